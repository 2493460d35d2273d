"""etl/quality: suite files are checked on load, and every batch is split by a real GX run (no mocks).

The first test pays the GX import (3-4 s); the others reuse the process-wide GX context.
"""

from __future__ import annotations

import datetime
import json
import pathlib

import pyarrow as pa
import pytest

from etl.quality import validate
from etl.quality.suites import SuiteError, load_suite, suite_path
from etl.quality.validate import validate_batch

SUITES = pathlib.Path(__file__).parent / "fixtures" / "suites"
PROJECT_SUITES = pathlib.Path(__file__).resolve().parents[2] / "expectations"
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("email", pa.string()),
        ("amount", pa.float64()),
        ("stage", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ],
    metadata={b"source": b"crm"},
)
QUARANTINE_SCHEMA = SCHEMA.append(pa.field("_failed_rule", pa.string())).append(
    pa.field("_reason", pa.string())
)
EMAIL_RULE = "expect_column_values_to_match_regex(email)"
AMOUNT_RULE = "expect_column_values_to_be_between(amount)"
STAGES = "['lead', 'qualified', 'won', 'lost']"
WHEN = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def contacts_suite() -> dict:
    return load_suite(SUITES / "example_contacts.json")


def contacts(*rows: tuple) -> pa.Table:
    """Rows of (id, email, amount, stage); created_at is the same for all."""
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pa.table([*columns, [WHEN] * len(rows)], schema=SCHEMA)


def quarantine(result: validate.BatchValidation) -> list[tuple]:
    rows = result.quarantined.select(["id", "email", "_failed_rule", "_reason"]).to_pylist()
    return [tuple(row.values()) for row in rows]


# Validation -------------------------------------------------------------------------------------


def test_known_bad_rows_are_quarantined_with_rule_and_reason(contacts_suite):
    batch = contacts(
        (1, "ann@example.com", 10.0, "lead"),
        (None, "bob@example.com", 5.0, "won"),
        (3, "john@", 1.0, "lost"),
        (4, "cy@example.com", -2.5, "won"),
        (5, "di@example.com", 3.0, "archived"),
        (6, "ed@example.com", 1.0, "lead"),
        (6, "fi@example.com", 2.0, "qualified"),
        (8, None, None, None),  # nulls are skipped by every rule but not_be_null
        (9, "gus@example.com", 0.0, "won"),  # min_value is inclusive
    )

    result = validate_batch(batch, contacts_suite, key_columns=["id"])

    assert quarantine(result) == [
        (None, "bob@example.com", "expect_column_values_to_not_be_null(id)", "id is null"),
        (3, "john@", EMAIL_RULE, r"email 'john@' does not match ^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        (4, "cy@example.com", AMOUNT_RULE, "amount -2.5 is not >= 0"),
        (
            5,
            "di@example.com",
            "expect_column_values_to_be_in_set(stage)",
            f"stage 'archived' is not in {STAGES}",
        ),
        (6, "ed@example.com", "expect_column_values_to_be_unique(id)", "id 6 is not unique in the batch"),
        (6, "fi@example.com", "expect_column_values_to_be_unique(id)", "id 6 is not unique in the batch"),
    ]
    assert result.valid.column("id").to_pylist() == [1, 8, 9]
    assert result.table_failures == []
    assert result.seconds > 0


def test_a_row_failing_two_rules_appears_once_with_both(contacts_suite):
    batch = contacts((1, "ann@example.com", 1.0, "lead"), (2, "not-an-address", -1.0, "lead"))

    result = validate_batch(batch, contacts_suite, key_columns=["id"])

    assert quarantine(result) == [
        (
            2,
            "not-an-address",
            f"{EMAIL_RULE}; {AMOUNT_RULE}",
            r"email 'not-an-address' does not match ^[^@\s]+@[^@\s]+\.[^@\s]+$; amount -1.0 is not >= 0",
        )
    ]
    assert result.valid.column("id").to_pylist() == [1]


def test_all_valid_batch_passes_through_unchanged(contacts_suite):
    batch = contacts((1, "ann@example.com", 1.0, "lead"), (2, "bob@example.com", 2.0, "won"))

    result = validate_batch(batch, contacts_suite, key_columns=["id"])

    assert result.valid.equals(batch, check_metadata=True)
    assert result.quarantined.num_rows == 0
    assert result.quarantined.schema.equals(QUARANTINE_SCHEMA, check_metadata=True)
    assert result.table_failures == []


def test_empty_batch(contacts_suite):
    result = validate_batch(contacts(), contacts_suite, key_columns=["id"])

    assert result.valid.num_rows == 0
    assert result.valid.schema.equals(SCHEMA, check_metadata=True)
    assert result.quarantined.num_rows == 0
    assert result.quarantined.schema.equals(QUARANTINE_SCHEMA, check_metadata=True)
    assert result.table_failures == []


def test_output_tables_keep_the_input_schema_and_values(contacts_suite):
    batch = contacts((1, "ann@example.com", 1.0, "lead"), (2, "bad", 1.0, "lead"))

    result = validate_batch(batch, contacts_suite, key_columns=["id"])

    assert result.valid.schema.equals(SCHEMA, check_metadata=True)
    assert result.quarantined.schema.equals(QUARANTINE_SCHEMA, check_metadata=True)
    assert result.valid.to_pylist() == batch.slice(0, 1).to_pylist()
    assert (
        result.quarantined.drop_columns(["_failed_rule", "_reason"]).to_pylist() == batch.slice(1).to_pylist()
    )


def test_large_integer_keys_with_nulls_are_not_rounded():
    # Through float64, 2**53 + 1 becomes 2**53 and the two rows would look like duplicates.
    suite = {"name": "keys", "expectations": [_rule("expect_column_values_to_be_unique", column="id")]}
    batch = pa.table({"id": pa.array([2**53, 2**53 + 1, None], pa.int64())})

    result = validate_batch(batch, suite, key_columns=["id"])

    assert result.quarantined.num_rows == 0
    assert result.valid.column("id").to_pylist() == [2**53, 2**53 + 1, None]


def test_null_and_duplicate_keys_do_not_confuse_row_identity():
    suite = {
        "name": "stage",
        "expectations": [_rule("expect_column_values_to_be_in_set", column="s", value_set=["a"])],
    }
    batch = pa.table({"id": pa.array([None, None, 7, 7], pa.int64()), "s": ["a", "x", "a", "y"]})

    result = validate_batch(batch, suite, key_columns=["id"])

    assert result.quarantined.select(["id", "s"]).to_pylist() == [{"id": None, "s": "x"}, {"id": 7, "s": "y"}]
    assert result.valid.select(["id", "s"]).to_pylist() == [{"id": None, "s": "a"}, {"id": 7, "s": "a"}]


def test_rows_are_found_by_position_even_when_arrow_metadata_carries_a_pandas_index():
    import pandas as pd

    frame = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "s": ["a", "a", "a", "a", "x", "a"]}).iloc[3:]
    batch = pa.Table.from_pandas(frame)  # pandas metadata: RangeIndex(start=3, stop=6)
    suite = {
        "name": "pos",
        "expectations": [_rule("expect_column_values_to_be_in_set", column="s", value_set=["a"])],
    }

    result = validate_batch(batch, suite, key_columns=["id"])

    assert result.quarantined.column("id").to_pylist() == [5]
    assert result.valid.column("id").to_pylist() == [4, 6]


def test_table_level_failures_are_reported_not_quarantined():
    suite = {
        "name": "table",
        "expectations": [
            _rule("expect_table_row_count_to_be_between", min_value=1, max_value=2),
            _rule("expect_column_mean_to_be_between", column="amount", min_value=100),
            _rule("expect_column_values_to_be_between", column="amount", min_value=0),
        ],
    }
    batch = contacts(*[(i, "a@b.co", 1.0, "lead") for i in range(3)])

    result = validate_batch(batch, suite, key_columns=["id"])

    assert result.table_failures == [
        "expect_table_row_count_to_be_between: observed 3, expected min_value=1, max_value=2",
        "expect_column_mean_to_be_between(amount): observed 1.0, expected min_value=100",
    ]
    assert result.quarantined.num_rows == 0
    assert result.valid.num_rows == 3


def test_empty_batch_fails_a_minimum_row_count():
    suite = {"name": "rows", "expectations": [_rule("expect_table_row_count_to_be_between", min_value=1)]}

    result = validate_batch(contacts(), suite, key_columns=["id"])

    assert result.table_failures == ["expect_table_row_count_to_be_between: observed 0, expected min_value=1"]


def test_a_column_missing_from_the_batch_is_a_table_failure():
    suite = {"name": "typo", "expectations": [_rule("expect_column_values_to_not_be_null", column="emial")]}

    result = validate_batch(contacts((1, "a@b.co", 1.0, "lead")), suite, key_columns=["id"])

    assert len(result.table_failures) == 1
    assert result.table_failures[0].startswith(
        "expect_column_values_to_not_be_null(emial): could not be evaluated:"
    )
    assert 'The column "emial" in BatchData does not exist' in result.table_failures[0]
    assert result.valid.num_rows == 1


@pytest.mark.parametrize(
    ("amounts", "expected_failures"),
    [
        ([1.0, 2.0, 3.0, -1.0], []),
        (
            [1.0, -2.0, -3.0, -1.0],
            [f"{AMOUNT_RULE}: 75.00% of checked rows fail (3 rows), mostly=0.5 allows at most 50.00%"],
        ),
    ],
)
def test_mostly_quarantines_the_rows_and_fails_the_batch_only_past_its_threshold(amounts, expected_failures):
    suite = {
        "name": "m",
        "expectations": [
            _rule("expect_column_values_to_be_between", column="amount", min_value=0, mostly=0.5)
        ],
    }
    batch = contacts(*[(i, "a@b.co", amount, "lead") for i, amount in enumerate(amounts)])

    result = validate_batch(batch, suite, key_columns=["id"])

    assert result.quarantined.column("amount").to_pylist() == [a for a in amounts if a < 0]
    assert result.table_failures == expected_failures


def test_missing_key_column_is_an_error(contacts_suite):
    with pytest.raises(ValueError, match=r"key column\(s\) \['contact_id'\] are not in the batch"):
        validate_batch(contacts(), contacts_suite, key_columns=["contact_id"])


def test_an_invalid_suite_dict_is_refused_not_silently_shortened():
    suite = {"name": "bad", "expectations": [_rule("expect_column_values_to_not_be_null")]}

    with pytest.raises(SuiteError, match=r"missing required kwarg 'column'"):
        validate_batch(contacts(), suite, key_columns=["id"])


def test_gx_context_is_created_once_per_process(contacts_suite):
    validate_batch(contacts(), contacts_suite, key_columns=["id"])
    first = validate._batch_definition
    validate_batch(contacts((1, "a@b.co", 1.0, "lead")), contacts_suite, key_columns=["id"])

    assert first is not None
    assert validate._batch_definition is first


# Suite files ------------------------------------------------------------------------------------


def test_example_suite_loads(contacts_suite):
    assert contacts_suite["name"] == "stg_crm__contacts"
    assert [e["type"] for e in contacts_suite["expectations"]][:2] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
    ]
    assert all(isinstance(e["meta"], dict) for e in contacts_suite["expectations"])


@pytest.mark.parametrize("name", sorted(p.stem for p in PROJECT_SUITES.glob("*.json")))
def test_every_project_suite_loads(name):
    suite = load_suite(suite_path(name))

    assert suite["name"] == name  # a suite is named after the table it guards
    assert suite["expectations"]


def test_suite_path_defaults_to_the_expectations_folder(monkeypatch):
    monkeypatch.delenv("ETL_EXPECTATIONS_DIR", raising=False)
    assert suite_path("stg_crm__deals") == PROJECT_SUITES / "stg_crm__deals.json"

    monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(SUITES))
    assert suite_path("example_contacts") == SUITES / "example_contacts.json"


NOT_NULL = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
INVALID_SUITES = {
    "bad_json": (
        '{"name": "x",\n "expectations": [\n  {"type": "a",}\n ]}',
        "invalid JSON at line 3 column 16: Expecting property name enclosed in double quotes",
    ),
    "not_an_object": ("[]", "a suite must be a JSON object, got list"),
    "no_name": ({"expectations": []}, "'name' must be a non-empty string (the table the suite guards)"),
    "typo_top_level": (
        {"name": "x", "expectation": []},
        "unknown top-level key(s) ['expectation']; "
        "allowed: ['expectations', 'id', 'meta', 'name', 'notes', 'suite_parameters']",
    ),
    "expectations_not_a_list": (
        {"name": "x", "expectations": {}},
        "'expectations' must be a list of {type, kwargs, meta} objects",
    ),
    "unknown_type": (
        {"name": "x", "expectations": [NOT_NULL, {"type": "expect_column_values_to_be_nul", "kwargs": {}}]},
        "expectations[1] (expect_column_values_to_be_nul): unknown expectation type; "
        "did you mean expect_column_values_to_be_null?",
    ),
    "missing_column": (
        {"name": "x", "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {}}]},
        "expectations[0] (expect_column_values_to_not_be_null): missing required kwarg 'column'",
    ),
    "unknown_kwarg": (
        {
            "name": "x",
            "expectations": [{"type": NOT_NULL["type"], "kwargs": {"column": "id", "colum": "id"}}],
        },
        "expectations[0] (expect_column_values_to_not_be_null): unknown kwarg 'colum'",
    ),
    "wrong_kwarg_type": (
        {
            "name": "x",
            "expectations": [
                {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "s", "value_set": 5}}
            ],
        },
        "expectations[0] (expect_column_values_to_be_in_set): kwarg 'value_set': value is not a valid list",
    ),
    "gx_0x_key": (
        {"name": "x", "expectations": [{"expectation_type": NOT_NULL["type"], "kwargs": {"column": "id"}}]},
        "expectations[0]: 'expectation_type' is the GX 0.x key; GX 1.x suites use 'type'",
    ),
    "kwargs_not_an_object": (
        {"name": "x", "expectations": [{"type": NOT_NULL["type"], "kwargs": ["id"]}]},
        "expectations[0] (expect_column_values_to_not_be_null): 'kwargs' must be an object",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_SUITES))
def test_invalid_suite_file_names_the_file_and_the_problem(tmp_path, case):
    content, problem = INVALID_SUITES[case]
    path = tmp_path / f"{case}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))

    with pytest.raises(SuiteError) as error:
        load_suite(path)

    assert str(error.value) == f"{path}: {problem}"


def test_missing_suite_file(tmp_path):
    path = tmp_path / "nope.json"

    with pytest.raises(SuiteError) as error:
        load_suite(path)

    assert str(error.value) == f"{path}: cannot read suite file (No such file or directory)"


def _rule(exp_type: str, **kwargs) -> dict:
    return {"type": exp_type, "kwargs": kwargs}


@pytest.mark.parametrize("module", ["etl/quality/validate.py", "etl/quality/suites.py"])
def test_gx_is_called_through_its_public_api_only(module):
    """A minor GX release may move anything not marked public; the product must not depend on it."""
    import ast

    from tests.conftest import ROOT

    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    gx_imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                  and n.module.startswith("great_expectations")}
    gx_imports |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
                   if a.name.startswith("great_expectations")}
    assert gx_imports == {"great_expectations"}  # gx.get_context, gx.ExpectationSuite, gx.expectations.*
