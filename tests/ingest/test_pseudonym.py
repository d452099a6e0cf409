"""Pseudonyms are RFC 2104 HMAC-SHA256, keyed per site; ages and areas are minimal."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from datetime import date

import pytest

from hospiflow.ingest.formats import IngestError
from hospiflow.ingest.pseudonym import (
    PSEUDONYM_HEX,
    Pseudonymiser,
    age_at,
    area_of,
    create_key,
    load_key,
)


@pytest.mark.parametrize("key", [b"short-key-16chars", b"k" * 64, b"a much longer key " * 10])
@pytest.mark.parametrize("value", ["123456", " IPP 42 ", "é-ü-ß", ""])
def test_pseudonym_is_the_standard_hmac_sha256(key: bytes, value: str):
    """The precomputed-pad HMAC equals hmac.new for short, block-sized and long keys."""
    expected = hmac.new(key, f"patient:{value.strip()}".encode(), hashlib.sha256).hexdigest()
    assert Pseudonymiser(key).pseudonym("patient", value) == expected[:PSEUDONYM_HEX]


def test_kinds_do_not_collide():
    """The same number as a patient and as a visit gives two different pseudonyms."""
    p = Pseudonymiser(b"0123456789abcdef")
    assert p.pseudonym("patient", "42") != p.pseudonym("visit", "42")


def test_key_file_is_private_and_stable(tmp_path, monkeypatch):
    """site create makes a 0600 key file once; re-creating keeps it; the env key wins."""
    monkeypatch.setenv("HOSPIFLOW_KEY_DIR", str(tmp_path / "keys"))
    path = create_key("CH Exemple")
    assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = load_key("CH Exemple")
    assert create_key("CH Exemple") == path and load_key("CH Exemple") == first
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "from-the-environment-key")
    assert load_key("CH Exemple") == b"from-the-environment-key"


def test_a_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    """No key file and no environment key: an error that says how to fix it."""
    monkeypatch.setenv("HOSPIFLOW_KEY_DIR", str(tmp_path))
    with pytest.raises(IngestError, match="HOSPIFLOW_PSEUDONYM_KEY"):
        load_key("Nowhere")


def test_age_and_area_keep_only_what_is_needed():
    """Whole years at arrival (birthday not reached yet: one less); two postcode characters."""
    assert age_at(date(1980, 6, 15), date(2025, 6, 14)) == 44
    assert age_at(date(1980, 6, 15), date(2025, 6, 15)) == 45
    assert area_of("75 013") == "75" and area_of("2a004") == "2A" and area_of("7") is None
