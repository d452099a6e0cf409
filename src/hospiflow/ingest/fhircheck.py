"""fhir_core's per-element checks with what depends only on the class worked out once.

Validating an R4B resource builds a pydantic model per nested element, and for
each one ``fhir_core`` (1.1.12) runs three checks in Python that recompute,
every time, facts of the class alone:

- ``reject_null_complex_elements`` (before): walks *every* field of the class
  (35 for an Encounter) asking whether it is a list of a complex type, to find
  a ``null`` in such a list in the input;
- ``_validate_required_primitive_elements`` (after, twice per element): builds
  the class's alias map from its fields, then checks each required element;
- ``_validate_one_of_many`` (after, twice per element): the ``value[x]``
  choices.

Profiled on the Encounters ``fhir.write_ndjson`` writes, these were about half
of the validation's time. ``install`` replaces them with versions that keep
the per-class facts (which fields to look at) in a dictionary and check the
instance against them; whenever a check would fail, the library's own method
runs, so errors (element, message, every error of the element) are exactly
the library's. What is accepted and what is refused does not change: a test
(``tests/ingest/test_fhircheck.py``) runs valid and broken resources through
both and compares the errors.

Installed only for the ``fhir_core`` version it was written against
(``KNOWN``): another version keeps its own checks, at their own speed.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from typing import Any

KNOWN = frozenset({"1.1.12"})
_lock = threading.Lock()
_installed: list[bool] = []


def install() -> bool:
    """Replace the three checks (once per process); False when this fhir_core is not KNOWN."""
    with _lock:
        if not _installed:
            _installed.append(_install())
        return _installed[0]


def _install() -> bool:
    try:
        found = importlib.metadata.version("fhir_core")
    except importlib.metadata.PackageNotFoundError:
        return False
    if found not in KNOWN:
        return False
    from fhir_core.fhirabstractmodel import FHIRAbstractModel
    from fhir_core.utils import is_list_type, is_primitive_type

    base = FHIRAbstractModel
    reject_null: Callable[..., Any] = base.reject_null_complex_elements.__func__
    required_check: Callable[[Any], None] = base._validate_required_primitive_elements
    choice_check: Callable[[Any], None] = base._validate_one_of_many
    lists: dict[type, list[tuple[str, str | None]]] = {}
    required: dict[type, list[str] | None] = {}
    choices: dict[type, list[tuple[list[str], bool]] | None] = {}

    def complex_lists(cls: type) -> list[tuple[str, str | None]]:
        """(name, alias) of the class's fields that are lists of a complex type."""
        return [
            (name, info.alias)
            for name, info in cls.model_fields.items()  # type: ignore[attr-defined]
            if is_list_type(info) and not is_primitive_type(info) and not name.endswith("__ext")
        ]

    def reject_null_complex_elements(cls: type, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = lists.get(cls)
        if fields is None:
            fields = lists[cls] = complex_lists(cls)
        for name, alias in fields:
            value = data.get(alias if alias and alias in data else name)
            if isinstance(value, list) and any(item is None for item in value):
                return reject_null(cls, data)  # the library's errors, all of them
        return data

    def required_keys(model: Any) -> list[str] | None:
        """The attributes of the required elements, or None: use the library's check."""
        try:
            aliases = model.get_alias_mapping()
            return [aliases[name] for name, _ext in model.get_required_fields()]
        except Exception:
            return None

    def validate_required(self: Any) -> None:
        cls = type(self)
        if cls in required:
            keys = required[cls]
        else:
            keys = required[cls] = required_keys(self)
        if keys is None:
            return required_check(self)
        for key in keys:
            if getattr(self, key, None) is None:
                return required_check(self)  # missing, or given by an extension only
        return None

    def choice_groups(model: Any) -> list[tuple[list[str], bool]] | None:
        """(fields, required) per value[x] choice, or None: use the library's check."""
        try:
            groups = []
            fields = type(model).model_fields
            for prefix, names in model.get_one_of_many_fields().items():
                extra = fields[names[0]].json_schema_extra
                if extra["one_of_many"] != prefix:
                    return None  # the library asserts this: let it
                groups.append((list(names), extra["one_of_many_required"] is True))
            return groups
        except Exception:
            return None

    def validate_choices(self: Any) -> None:
        cls = type(self)
        if cls in choices:
            groups = choices[cls]
        else:
            groups = choices[cls] = choice_groups(self)
        if groups is None:
            return choice_check(self)
        for names, needed in groups:
            given = sum(getattr(self, name, None) is not None for name in names)
            if given > 1 or (needed and not given):
                return choice_check(self)  # its error
        return None

    base.reject_null_complex_elements = classmethod(reject_null_complex_elements)  # type: ignore[assignment, method-assign]
    base._validate_required_primitive_elements = validate_required  # type: ignore[method-assign]
    base._validate_one_of_many = validate_choices  # type: ignore[method-assign]
    # pydantic bound the before-validator into each class's schema when the class was
    # made: models made since import are rebuilt; those made later bind the new one.
    pending: list[type] = [base]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        decorator = cls.__pydantic_decorators__.model_validators.get(  # type: ignore[attr-defined]
            "reject_null_complex_elements"
        )
        if decorator is None or cls is base:
            continue
        decorator.func = cls.reject_null_complex_elements  # type: ignore[attr-defined]
        cls.model_rebuild(force=True)  # type: ignore[attr-defined]
    return True
