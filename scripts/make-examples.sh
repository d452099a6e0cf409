#!/usr/bin/env bash
# Regenerate examples/: one small sample per import format, exported from a simulated
# day of the default hospital (never real patient data). Usage: bash scripts/make-examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin/hospiflow
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" simulate --days 1 --seed 2025 --db "$work/sim.db" --no-reports --quiet
mkdir -p examples/mimic-ed
"$bin" export --run 1 --format rpu --out examples/rpu.csv --site-code 750000000 --db "$work/sim.db"
"$bin" export --run 1 --format csv --out examples/visits.csv --db "$work/sim.db"
"$bin" export --run 1 --format fhir --out examples/encounters.json --db "$work/sim.db"
"$bin" export --run 1 --format hl7 --out examples/adt.hl7 --db "$work/sim.db"
"$bin" export --run 1 --format mimic-ed --out examples/mimic-ed/edstays.csv --db "$work/sim.db"
echo "examples/ regenerated"
