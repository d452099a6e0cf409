"""hospiflow: a hospital's activity, live — simulate it, store it, serve it, forecast it."""

from __future__ import annotations

__version__ = "0.1.0"
