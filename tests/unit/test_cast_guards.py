"""Casts never invent a value: any text either becomes the value it writes, or is refused (quarantine,
rule `cast`). Hand-picked cases from the outside harness (issue #9) and hypothesis properties."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.config.schema import Column, Entity
from etl.transform.cast import cast_column
from etl.transform.mapping import map_batch

PROPS = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def refused(values: list[str], **column) -> list[bool]:
    return cast_column(pa.array(values, pa.string()), Column(**column))[1].to_pylist()


# ------------------------------------------------------------------------------------------ the cases


def test_impossible_dates_in_an_explicit_format_are_refused_not_rolled_over():
    assert refused(["2024-02-30", "2023-02-29", "2024-04-31", "2024-02-29"], type="date",
                   formats=["%Y-%m-%d"]) == [True, True, True, False]
    assert refused(["31/02/2026 10:00", "28/02/2026 10:00"], type="timestamp",
                   formats=["%d/%m/%Y %H:%M"]) == [True, False]


def test_a_refused_format_falls_through_to_the_next_one():
    typed, bad = cast_column(pa.array(["02/30/2024", "02/03/2024"]), Column(type="date",
                                                                             formats=["%d/%m/%Y", "%m/%d/%Y"]))
    assert bad.to_pylist() == [True, False]  # 02/30 is no date in either order; 02/03 is 2 March
    assert typed.to_pylist()[1] == dt.date(2024, 3, 2)


@pytest.mark.parametrize("fmt", [["%Y-%m-%d"], ["iso"], []])
def test_year_zero_and_year_10000_are_refused_on_every_path(fmt):
    values = ["0000-01-01", "10000-01-01", "0001-01-01", "9999-12-31"]
    assert refused(values, type="date", formats=fmt) == [True, True, False, False]
    assert refused(["-62135596801", "253402300800", "0"], type="timestamp", formats=["epoch_s"]) == [True, True, False]


def test_a_local_time_the_clocks_skipped_is_refused_not_shifted():
    column = {"type": "timestamp", "timezone": "Europe/Berlin"}
    assert refused(["2026-03-29 02:30", "2026-03-29 01:30", "2026-03-29 03:30"], formats=["%Y-%m-%d %H:%M"],
                   **column) == [True, False, False]
    assert refused(["2026-03-29T02:30:00"], formats=["iso"], **column) == [True]


def test_zone_offsets_still_parse_and_impossible_ones_do_not():
    typed, bad = cast_column(pa.array(["2024-01-05T10:00:00+0200", "2024-02-30T10:00:00+0200"]),
                             Column(type="timestamp", formats=["%Y-%m-%dT%H:%M:%S%z"]))
    assert bad.to_pylist() == [False, True]
    assert typed.to_pylist()[0] == dt.datetime(2024, 1, 5, 8, 0)


def test_decimals_that_fit_their_precision_load_exactly_and_overflows_are_refused():
    typed, bad = cast_column(pa.array(["9999999999999999.99", "-9999999999999999.99", "10000000000000000",
                                       "9999999999999999.995", "1.1234567890123456789", "1" * 40]),
                             Column(type="decimal(18,2)"))
    assert bad.to_pylist() == [False, False, True, True, False, True]
    assert typed.to_pylist()[:2] == [Decimal("9999999999999999.99"), Decimal("-9999999999999999.99")]
    assert typed.to_pylist()[4] == Decimal("1.12")


def test_integers_beyond_64_bits_and_infinite_floats_are_refused_not_a_crash():
    assert refused(["99999999999999999999", "9223372036854775807", " 3 "], type="integer") == [True, False, False]
    assert refused(["1e999", "-1e999", "1e308"], type="float") == [True, True, False]
    assert refused(["99999999999999999"], type="timestamp", formats=["epoch_ms"]) == [True]


# -------------------------------------------------------------------------------- in the mapped batch


def _entity(**extra) -> Entity:
    base = {"system": "t", "entity": "e", "primary_key": ["id"],
            "source": {"kind": "rest", "connection": "x", "path": "/e"},
            "columns": {"id": {}, "email": {"normalise": ["email"], "pii": "hash"},
                        "signed": {"type": "date", "formats": ["%Y-%m-%d"]},
                        "score": {"type": "integer"}, "note": {}}}
    base.update(extra)
    return Entity.model_validate(base)


def test_a_cast_failure_in_a_filter_column_is_quarantined_not_filtered():
    entity = _entity(filters=[{"column": "score", "op": "ge", "value": 0}])
    raw = pa.table({"id": ["1", "2", "3"], "score": ["5", "abc", "-1"]})
    result = map_batch(raw, entity)
    assert result.filtered == 1  # only -1 fails the business rule
    kept = dict(zip(result.table["id"].to_pylist(), result.table["_errors"].to_pylist(), strict=True))
    assert kept["1"] is None and kept["2"].startswith("cast(score): 'abc'")


def test_blank_keys_are_no_keys_and_padded_keys_are_trimmed():
    table = map_batch(pa.table({"id": ["", "   ", " 3 ", "4"]}), _entity()).table
    assert table["id"].to_pylist() == [None, None, "3", "4"]


def test_a_reason_never_quotes_a_personal_value():
    entity = _entity(columns={"id": {}, "email": {"pii": "hash", "type": "integer"}})
    table = map_batch(pa.table({"id": ["1"], "email": ["ann@example.com"]}), entity).table
    reason = table["_errors"][0].as_py()
    assert reason.startswith("cast(email): <15 characters") and "ann@" not in reason


def test_an_object_where_a_personal_value_was_expected_is_refused_and_kept_out_of_extras():
    raw = pa.table({"id": ["1", "2"], "email": [None, "b@x.org"], "email.address": ["ann@example.com", None],
                    "email.kind": ["work", None], "other": ["x", "y"]})
    table = map_batch(raw, _entity()).table
    assert table["_errors"][0].as_py().startswith("cast(email): an object (fields address, kind)")
    assert table["_errors"][1].as_py() is None
    assert "ann@" not in str(table["extras"].to_pylist()) and table["extras"][0].as_py() == '{"other":"x"}'


def test_nul_bytes_are_stripped_from_every_text_value():
    raw = pa.table({"id": ["1\x00"], "note": ["a\x00b"], "custom": ["c\x00"]})
    table = map_batch(raw, _entity()).table
    assert (table["id"][0].as_py(), table["note"][0].as_py()) == ("1", "ab")
    assert table["extras"][0].as_py() == '{"custom":"c"}'


# ---------------------------------------------------------------------------------------- properties

DAY_PARTS = st.tuples(st.integers(0, 10_000), st.integers(0, 13), st.integers(0, 32))


@PROPS
@given(st.lists(DAY_PARTS, min_size=1, max_size=20))
def test_property_a_date_loads_as_the_day_it_writes_or_is_refused(parts):
    texts = [f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in parts]
    typed, bad = cast_column(pa.array(texts), Column(type="date", formats=["%Y-%m-%d"]))
    for (y, m, d), value, refused_ in zip(parts, typed.to_pylist(), bad.to_pylist(), strict=True):
        try:
            real = dt.date(y, m, d)
        except ValueError:
            real = None
        assert refused_ == (real is None)
        assert value == real


@PROPS
@given(st.lists(st.tuples(DAY_PARTS, st.integers(0, 25), st.integers(0, 61), st.integers(0, 62)),
                min_size=1, max_size=20))
def test_property_a_local_timestamp_is_the_wall_time_it_writes_or_is_refused(parts):
    zone = ZoneInfo("Europe/Berlin")
    texts = [f"{d:02d}/{m:02d}/{y:04d} {h:02d}:{mi:02d}:{sec:02d}" for (y, m, d), h, mi, sec in parts]
    typed, bad = cast_column(pa.array(texts), Column(type="timestamp", formats=["%d/%m/%Y %H:%M:%S"],
                                                     timezone="Europe/Berlin"))
    for ((y, m, d), h, mi, sec), value, refused_ in zip(parts, typed.to_pylist(), bad.to_pylist(), strict=True):
        try:
            wall = dt.datetime(y, m, d, h, mi, sec)
        except ValueError:
            wall = None
        if refused_:
            assert value is None
            if wall is not None and dt.datetime(2, 1, 1) < wall < dt.datetime(9999, 12, 30):
                utc = wall.replace(tzinfo=zone).astimezone(dt.UTC)
                assert utc.astimezone(zone).replace(tzinfo=None) != wall  # only a skipped time is refused
            continue
        assert wall is not None
        assert value.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None) == wall


NUMBER_TEXT = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.from_regex(r"\A[-+]?\d{1,20}(\.\d{0,15})?\Z"),
    st.text(max_size=8),
)


@PROPS
@given(st.lists(st.tuples(DAY_PARTS, st.integers(0, 23), st.integers(-14 * 60, 14 * 60)), min_size=1, max_size=20))
def test_property_a_zoned_timestamp_is_the_instant_it_writes_or_is_refused(parts):
    def offset(minutes: int) -> str:
        return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    texts = [f"{y:04d}-{m:02d}-{d:02d} {h:02d}:30:00{offset(z)}" for (y, m, d), h, z in parts]
    typed, bad = cast_column(pa.array(texts), Column(type="timestamp", formats=["%Y-%m-%d %H:%M:%S%z"]))
    for ((y, m, d), h, z), value, refused_ in zip(parts, typed.to_pylist(), bad.to_pylist(), strict=True):
        try:
            wall = dt.datetime(y, m, d, h, 30, tzinfo=dt.timezone(dt.timedelta(minutes=z)))
            instant = wall.astimezone(dt.UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):
            instant = None
        if instant is None or not dt.datetime(1, 1, 1) <= instant <= dt.datetime(9999, 12, 31, 23, 59, 59):
            assert refused_, texts
        else:
            assert not refused_ and value == instant, texts


@PROPS
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=20))
def test_property_a_decimal_is_its_text_rounded_to_scale_or_is_refused(texts):
    typed, bad = cast_column(pa.array(texts, pa.string()), Column(type="decimal(18,2)"))
    for text, value, refused_ in zip(texts, typed.to_pylist(), bad.to_pylist(), strict=True):
        plain = re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)\s*", text, re.ASCII)
        with localcontext(prec=100):
            rounded = Decimal(text.strip()).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if plain else None
        fits = rounded is not None and abs(rounded) < Decimal(10) ** 16
        if refused_:
            assert value is None and not fits, text  # refused: not a plain decimal, or it overflows
        elif text.strip():
            assert fits and value == rounded, text  # loaded: exactly its text, rounded half away from zero


@PROPS
@given(st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=20))
def test_property_an_integer_is_itself_or_is_refused(numbers):
    typed, bad = cast_column(pa.array([str(n) for n in numbers]), Column(type="bigint"))
    for n, value, refused_ in zip(numbers, typed.to_pylist(), bad.to_pylist(), strict=True):
        assert refused_ == (not -(2**63) <= n < 2**63)
        assert value == (None if refused_ else n)


@PROPS
@given(st.lists(st.text(max_size=12), min_size=1, max_size=10))
def test_property_any_text_in_a_date_column_is_python_s_date_or_refused(texts):
    typed, bad = cast_column(pa.array(texts), Column(type="date", formats=["%Y-%m-%d"]))
    for text, value, refused_ in zip(texts, typed.to_pylist(), bad.to_pylist(), strict=True):
        if refused_ or value is None:
            continue
        assert dt.datetime.strptime(text.strip(), "%Y-%m-%d").date() == value
