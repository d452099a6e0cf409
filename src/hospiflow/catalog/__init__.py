"""Reference data: the specialties and pathologies a hospital works with.

``load_catalog()`` gives the built-in catalog (8 specialties, 26 emergency
pathologies); ``load_catalog("my.toml")`` a hospital's own, validated strictly.
"""

from __future__ import annotations

from hospiflow.catalog.loader import load_catalog, parse_catalog
from hospiflow.catalog.models import Catalog, Pathology, Specialty

__all__ = ["Catalog", "Pathology", "Specialty", "load_catalog", "parse_catalog"]
