#!/usr/bin/env bash
# Fails when the lock files no longer match pyproject.toml: each is compiled
# again (uv keeps the pins already in the file unless they no longer fit) and
# must come out unchanged. Refresh them with `make lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.venv/bin/uv}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for lock in requirements.lock requirements-dev.lock; do
    extra=()
    [ "$lock" = requirements-dev.lock ] && extra=(--extra dev)
    cp "$lock" "$scratch/$lock"
    "$UV" pip compile pyproject.toml "${extra[@]}" --generate-hashes --python-version 3.11 \
        --universal --quiet --no-header -o "$scratch/$lock"
    if ! diff -u <(grep -v '^#' "$lock") <(grep -v '^#' "$scratch/$lock") >"$scratch/diff"; then
        echo "$lock does not match pyproject.toml (run: make lock):" >&2
        head -40 "$scratch/diff" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "lock files match pyproject.toml"
exit "$status"
