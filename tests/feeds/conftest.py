"""Feed fixtures: a site with a key and tokens on each backend, and an app on it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from hospiflow.store import sites, tokens

KEY = "a-feed-test-key-of-enough-length"


@pytest.fixture
def site(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An empty site (Paris) with an admin and a viewer token."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", KEY)
    with engine.begin() as connection:
        row = sites.create_site(connection, "Urgences Nord", "Europe/Paris", capacity_spaces=20)
        admin = tokens.create_token(connection, "feed-admin", "admin")
        viewer = tokens.create_token(connection, "feed-viewer", "viewer")
    return {
        **row,
        "admin": {"Authorization": f"Bearer {admin}"},
        "viewer": {"Authorization": f"Bearer {viewer}"},
    }
