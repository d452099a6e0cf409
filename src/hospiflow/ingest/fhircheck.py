"""fhir_core's per-element checks with what depends only on the class worked out once.

Validating an R4B resource builds a pydantic model per nested element, and for
each one ``fhir_core`` (1.1.12) runs checks in Python that recompute, every
time, facts of the class alone:

- ``reject_null_complex_elements`` (before): walks *every* field of the class
  (35 for an Encounter) asking whether it is a list of a complex type, to find
  a ``null`` in such a list in the input;
- ``validate_after_model_construction`` (after, twice per element): builds the
  class's alias map to check its required elements, then its ``value[x]``
  choices (``_validate_required_primitive_elements``, ``_validate_one_of_many``);
- ``FhirBase.fhir_model_validator`` (per nested element): builds the element's
  model with ``model_validate``, which for these models (they have their own
  ``__init__``) enters pydantic's validator twice (the after-validators run
  twice), then checks the type of the model it has just built.

Profiled on the resources ``fhir.write_ndjson`` writes, these were about half
of the validation's time. ``install`` replaces them with versions that keep
the per-class facts (which keys to look at, which elements are required) in
dictionaries and check the instance against them; whenever a check could fail,
the library's own method runs, so errors (element, message, every error of the
element) are exactly the library's. What is accepted and what is refused does
not change: a test (``tests/ingest/test_fhircheck.py``) runs valid and broken
resources through both and compares the errors.

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
    """Replace the checks (once per process); False when this fhir_core is not KNOWN."""
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
    from fhir_core.types import FhirBase
    from fhir_core.utils import is_list_type, is_primitive_type

    base = FHIRAbstractModel
    reject_null: Callable[..., Any] = base.reject_null_complex_elements.__func__
    model_check: Callable[..., Any] = FhirBase.fhir_model_validator.__func__  # type: ignore[attr-defined]
    required_check: Callable[[Any], None] = base._validate_required_primitive_elements
    choice_check: Callable[[Any], None] = base._validate_one_of_many
    lists: dict[type, frozenset[str]] = {}
    required: dict[type, list[str] | None] = {}
    choices: dict[type, list[tuple[list[str], bool]] | None] = {}
    nothing_after: dict[type, bool] = {}

    def complex_lists(cls: type) -> frozenset[str]:
        """Names and aliases of the class's fields that are lists of a complex type."""
        keys = set()
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            if is_list_type(info) and not is_primitive_type(info) and not name.endswith("__ext"):
                keys.add(name)
                if info.alias:
                    keys.add(info.alias)
        return frozenset(keys)

    def reject_null_complex_elements(cls: type, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        keys = lists.get(cls)
        if keys is None:
            keys = lists[cls] = complex_lists(cls)
        for key, value in data.items():
            # every key the library would look at is among these (and maybe one more)
            if key in keys and isinstance(value, list) and any(item is None for item in value):
                return reject_null(cls, data)  # the library's errors, all of them
        return data

    def fhir_model_validator(cls: type, value: Any, model_klass: type) -> Any:
        if value.__class__ is dict:
            # what model_validate does for a FHIR model (its own __init__), without running
            # the schema's after-validators a second time around it
            value = model_klass(**value)
            if value.__class__ is model_klass:
                return value  # what the library's checks of type and resource type accept
        return model_check(cls, value, model_klass)

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

    def validate_after_model_construction(self: Any) -> Any:
        cls = type(self)
        empty = nothing_after.get(cls)
        if empty is None:  # no required element, no choice: nothing to check, ever
            empty = nothing_after[cls] = required_keys(self) == [] and choice_groups(self) == []
        if not empty:
            self._validate_required_primitive_elements()
            self._validate_one_of_many()
        return self

    base.reject_null_complex_elements = classmethod(reject_null_complex_elements)  # type: ignore[assignment, method-assign]
    base.validate_after_model_construction = validate_after_model_construction  # type: ignore[assignment, method-assign]
    base._validate_required_primitive_elements = validate_required  # type: ignore[method-assign]
    base._validate_one_of_many = validate_choices  # type: ignore[method-assign]
    FhirBase.fhir_model_validator = classmethod(fhir_model_validator)  # type: ignore[assignment, method-assign]
    # pydantic bound the model validators into each class's schema when the class was
    # made: models made since import are rebuilt; those made later bind the new ones.
    pending: list[type] = list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        validators = cls.__pydantic_decorators__.model_validators  # type: ignore[attr-defined]
        for name in ("reject_null_complex_elements", "validate_after_model_construction"):
            if name in validators:
                validators[name].func = getattr(cls, name)
        try:
            cls.model_rebuild(force=True)  # type: ignore[attr-defined]
        except Exception:  # its schema, built before, keeps the library's checks
            continue
    return True
