"""A hospital's own data into the store: visit records from the formats hospitals have.

Layout (one small module a job):

| module | job |
| --- | --- |
| ``formats.py`` | the registry: format name -> its reader and writer; ``ReadOptions`` |
| ``delimited.py`` | CSV / delimited text / ``.xlsx`` with a mapping file (TOML) |
| ``rpu.py`` | the French RPU extract (Résumé de Passage aux Urgences) |
| ``mimic_ed.py`` | MIMIC-IV-ED (``edstays`` + ``triage`` + ``diagnosis``) |
| ``fhir.py`` | FHIR R4 Encounter (Bulk Data NDJSON, Bundles), validated with R4B |
| ``hl7v2.py`` | HL7 v2 ADT message files |
| ``counts.py`` | hourly arrival counts only (a forecast-only site) |
| ``diagnoses.py`` | ICD-10 code -> the catalog's pathology and specialty |
| ``pseudonym.py`` | keyed HMAC-SHA256 pseudonyms, age from birth date, département |
| ``pipeline.py`` | records -> a site: pseudonymise, deduplicate, quarantine, commit at once |

**The reader contract.** Every format module has
``read(paths, options) -> Iterator[VisitRecord | Rejection | HourlyCount]``
(``hospiflow.records``): it yields one ``VisitRecord`` per visit it could
read and one ``Rejection`` (with file:line, field and reason, identifiers
redacted) per row it could not — it never raises on a bad row, only on a file
it cannot open or a mapping that is wrong (``IngestError``). Readers never
store, log or print raw identifiers. Writers (``write(records, out, options)``)
turn ``VisitRecord``s back into the format, for ``hospiflow export`` and the
round-trip tests.
"""
