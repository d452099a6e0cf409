"""fhircheck: R4B validation with the faster checks accepts and refuses exactly as fhir_core.

The library's own checks run in a fresh interpreter that never installs the faster
ones; this process installs them; both validate the same resources and report every
error (type, location, message) of each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from hospiflow.ingest import fhircheck

EMER = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}
START = "2024-03-01T08:00:00+01:00"


def _encounter(**extra: Any) -> dict[str, Any]:
    resource = {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": EMER}
    resource.update(extra)
    return {k: v for k, v in resource.items() if v is not ...}


CORPUS: list[tuple[str, dict[str, Any]]] = [
    ("Encounter", _encounter(period={"start": START})),
    ("Encounter", _encounter(status=...)),  # required element missing
    ("Encounter", _encounter(status=..., _status={"extension": [{"url": "u", "valueCode": "x"}]})),
    ("Encounter", _encounter(status=..., _status={"id": "x"})),  # an extension-less _status
    ("Encounter", _encounter(status=None)),
    ("Encounter", _encounter(**{"class": ...})),  # class (a complex element) missing
    ("Encounter", _encounter(identifier=[None])),  # null in a list of complex elements
    ("Encounter", _encounter(identifier=[{"value": "a"}, None])),
    ("Encounter", _encounter(participant=[{"type": [None, {"text": "x"}]}])),  # nested null
    ("Encounter", _encounter(diagnosis=[{"condition": {"reference": "Condition/1"}}, None])),
    ("Encounter", _encounter(participant=[{"period": {"start": "2024-03-01 08:20"}}])),
    ("Encounter", _encounter(period={"start": START, "end": 3})),
    ("Encounter", _encounter(priority={"coding": [{"code": "1", "system": 5}]})),
    ("Encounter", _encounter(unknown="x")),
    ("Encounter", _encounter(status="done")),
    ("Encounter", _encounter(id="not an id!")),
    ("Encounter", _encounter(identifier=[None], status=..., extra=1)),  # several errors
    ("Encounter", _encounter(resourceType="Patient")),
    ("Patient", {"resourceType": "Patient", "id": "p", "gender": "female"}),
    ("Patient", {"resourceType": "Patient", "deceasedBoolean": True}),
    ("Patient", {"resourceType": "Patient", "deceasedBoolean": True, "deceasedDateTime": START}),
    ("Patient", {"resourceType": "Patient", "multipleBirthInteger": 2, "birthDate": "1980-13"}),
    ("Patient", {"resourceType": "Patient", "name": [None], "telecom": [{"system": "phone"}]}),
    ("Patient", {"resourceType": "Patient", "link": [{"type": "seealso"}]}),  # other required
    ("Condition", {"resourceType": "Condition", "subject": {"reference": "Patient/p"}}),
    ("Condition", {"resourceType": "Condition"}),  # subject missing
    (
        "Condition",
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p"},
            "onsetDateTime": START,
            "onsetAge": {"value": 3},
        },
    ),
    (
        "Condition",
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p"},
            "abatementString": "gone",
            "code": {"coding": [None]},
        },
    ),
    # a required value[x] choice (none in the three resources read; Communication.payload)
    ("Communication", {"resourceType": "Communication", "status": "completed", "payload": [{}]}),
    (
        "Communication",
        {
            "resourceType": "Communication",
            "status": "completed",
            "payload": [{"contentString": "x"}],
        },
    ),
]

VERDICTS = """
import json, sys
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

MODELS = {
    "Encounter": Encounter,
    "Patient": Patient,
    "Condition": Condition,
    "Communication": Communication,
}


def verdict(kind, resource):
    try:
        MODELS[kind].model_validate(resource)
    except ValidationError as error:
        return [
            [e["type"], [str(p) for p in e["loc"]], e["msg"]]
            for e in error.errors(include_url=False)
        ]
    return None


def verdicts(corpus):
    return [verdict(kind, resource) for kind, resource in corpus]
"""


def test_faster_checks_give_the_librarys_verdicts_and_errors():
    library = subprocess.run(
        [sys.executable, "-c", VERDICTS + "print(json.dumps(verdicts(json.load(sys.stdin))))"],
        input=json.dumps(CORPUS),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(library.stdout)
    assert fhircheck.install()  # the locked fhir_core is the one the checks were written for
    namespace: dict[str, Any] = {}
    exec(VERDICTS, namespace)
    got = json.loads(json.dumps(namespace["verdicts"](CORPUS)))
    for (kind, resource), want, have in zip(CORPUS, expected, got, strict=True):
        assert have == want, (kind, resource)
    refused = sum(v is not None for v in expected)
    assert 6 < refused < len(CORPUS)  # both kinds of answer are compared
    checks = ("None is not allowed", "is required", "Any of one field", "Expect any of")
    messages = json.dumps(expected)
    assert all(check in messages for check in checks)  # each replaced check refused something


def test_the_checks_are_installed_in_the_fhir_reader():
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    from hospiflow.ingest import fhir  # noqa: F401  (installs them on import)

    assert FHIRAbstractModel._validate_one_of_many.__module__ == fhircheck.__name__
