"""JSON records → all-string Arrow, and incremental cursor values read back from such tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from etl.config.schema import Incremental
from etl.sources.records import CursorTracker, get_path, max_text, parse_moment, records_at, to_table
from etl.sources.rest import watermark_param


def test_values_keep_their_json_spelling() -> None:
    records = [
        {"id": "1", "n": 12, "x": 12.5, "ok": True, "none": None, "tags": ["a", 1], "big": 2**70},
        {"id": "2", "n": -3, "x": 1e20, "ok": False, "none": None, "tags": [], "big": 0},
    ]
    table = to_table(records)
    assert table.schema == pa.schema([(k, pa.string()) for k in records[0]])
    assert table.to_pylist() == [
        {"id": "1", "n": "12", "x": "12.5", "ok": "true", "none": None, "tags": '["a",1]', "big": str(2**70)},
        {"id": "2", "n": "-3", "x": "1e+20", "ok": "false", "none": None, "tags": "[]", "big": "0"},
    ]


def test_nested_objects_flatten_with_dots_and_keys_union_in_order() -> None:
    records = [
        {"id": "1", "properties": {"email": "a@x", "address": {"city": "Oslo"}}},
        {"id": "2", "properties": {"phone": 5}, "archived": True},
        {"id": "3", "properties": None},
    ]
    table = to_table(records)
    assert table.column_names == [
        "id",
        "properties.email",
        "properties.address.city",
        "properties.phone",
        "archived",
    ]
    assert table.to_pylist()[1] == {
        "id": "2",
        "properties.email": None,
        "properties.address.city": None,
        "properties.phone": "5",
        "archived": "true",
    }
    assert table.column("properties.address.city").to_pylist() == ["Oslo", None, None]


def test_a_key_that_is_sometimes_an_object_keeps_its_scalars() -> None:
    table = to_table([{"owner": {"id": "7"}}, {"owner": "unassigned"}, {"owner": [1]}])
    assert table.to_pydict() == {"owner": [None, "unassigned", "[1]"], "owner.id": ["7", None, None]}


def test_non_object_records_and_empty_batches() -> None:
    assert to_table([1, "a"]).to_pydict() == {"value": ["1", "a"]}
    assert to_table([]).num_rows == 0
    assert to_table([{"a": None}, {"a": None}]).schema == pa.schema([("a", pa.string())])


def test_paths_into_bodies() -> None:
    body = {"paging": {"next": {"after": "9"}}, "results": [{"id": 1}], "one": {"id": 2}}
    assert get_path(body, "paging.next.after") == "9"
    assert get_path(body, "paging.prev.after") is None and get_path(body, "") is body
    assert records_at(body, "results") == [{"id": 1}] and records_at(body, "one") == [{"id": 2}]
    assert records_at({"data": None}, "data") == [] and records_at([{"id": 3}], "") == [{"id": 3}]
    with pytest.raises(ValueError, match="expected a list of records at 'paging.next.after'.*got str"):
        records_at(body, "paging.next.after")


@pytest.mark.parametrize(("body", "path", "message"), [
    ({"items": [{"id": 1}]}, "results", r"no 'results' in the document \(records_path\); the keys there are: 'items'"),
    ({"paging": {"x": 1}}, "paging.data", r"no 'paging.data'.*keys there are: 'x'"),
    ([{"id": 1}], "results", r"records_path 'results' expects an object, the document holds list"),
    ({"results": {}}, "results", "holds an empty object"),
])
def test_a_document_without_the_records_key_is_an_error_not_zero_records(body, path, message) -> None:
    """Issue 9: records under another key counted as an empty page and were lost for good."""
    with pytest.raises(ValueError, match=message):
        records_at(body, path)


def test_empty_objects_stay_rows() -> None:
    assert to_table([{}, {}]).num_rows == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01T10:00:00.123Z", datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2024-03-01T12:00:00.123456789+02:00", datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-03-01 10:00:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("1709287200000", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("1709287200", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("1709287200.5", datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_moment_reads_what_sources_write(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


def test_parse_moment_names_a_bad_value() -> None:
    with pytest.raises(ValueError, match="cursor value 'yesterday' is neither an ISO 8601 timestamp"):
        parse_moment("yesterday")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # By text "…T11:30+02:00" sorts last; in time it is the earliest.
        (
            ["2024-03-01T10:00:00Z", "2024-03-01T11:30:00+02:00", None, "2024-03-01T10:00:00.5Z"],
            "2024-03-01T10:00:00.5Z",
        ),
        (["999", "1000", "99"], "1000"),  # numbers, not text
        (
            ["2024-03-01 10:00:00", "2024-03-01T09:00:00+00:00"],
            "2024-03-01 10:00:00",
        ),  # mixed: Python fallback
        ([None, None], None),
    ],
)
def test_max_text_compares_values_not_strings(values: list[str | None], expected: str | None) -> None:
    assert max_text(pa.chunked_array([pa.array(values, pa.string())])) == expected


def test_cursor_tracker_keeps_the_largest_across_batches() -> None:
    tracker = CursorTracker("properties.updatedAt")
    assert tracker.update(to_table([{"id": "1"}])) is None
    assert (
        tracker.update(to_table([{"properties": {"updatedAt": "2024-03-02T00:00:00Z"}}]))
        == "2024-03-02T00:00:00Z"
    )
    assert tracker.update(to_table([{"properties": {"updatedAt": "2024-03-01T23:00:00-02:00"}}])) == (
        "2024-03-01T23:00:00-02:00"
    )
    assert tracker.update(to_table([{"properties": {"updatedAt": "2024-03-01T00:00:00Z"}}])) == (
        "2024-03-01T23:00:00-02:00"
    )


@pytest.mark.parametrize(
    ("fmt", "watermark", "lag_s", "expected"),
    [
        ("iso", "2024-03-01T10:00:00.123456Z", 0, "2024-03-01T10:00:00.123Z"),
        ("iso", "2024-03-01T12:00:00+02:00", 60, "2024-03-01T09:59:00.000Z"),
        ("iso", "1709287200000", 0, "2024-03-01T10:00:00.000Z"),
        ("epoch_ms", "2024-03-01T10:00:00.0019Z", 0, "1709287200001"),
        ("epoch_s", "2024-03-01T10:00:00Z", 1, "1709287199"),
        ("date", "2024-03-01T00:30:00+01:00", 0, "2024-02-29"),
    ],
)
def test_watermark_param_formats(fmt: str, watermark: str, lag_s: int, expected: str) -> None:
    inc = Incremental(cursor_field="updatedAt", param="since", param_format=fmt, lag_s=lag_s)
    assert watermark_param(inc, watermark) == expected


def test_without_watermark_initial_or_full_read() -> None:
    inc = Incremental(cursor_field="updatedAt", param="since", lag_s=3600)
    assert watermark_param(inc, None) is None
    initial = inc.model_copy(update={"initial": "2024-01-01T00:00:00Z"})
    assert watermark_param(initial, None) == "2024-01-01T00:00:00.000Z"  # no lag on the first run
