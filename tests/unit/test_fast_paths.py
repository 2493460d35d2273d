"""The vectorised fast paths give exactly what the plain per-row code gives.

Each fast path (extras JSON spliced with Arrow kernels, zone detection with RE2, phone formatting split
over processes, Arrow IPC run files) is checked against the straightforward Python it replaced, on
inputs chosen to hit the edges: JSON escapes, all-null rows, non-ASCII text, trailing newlines.
"""

from __future__ import annotations

import random
import re

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from etl import runfiles
from etl.transform import phones
from etl.transform.cast import AWARE_RE, _aware
from etl.transform.mapping import _extras

KEYS = ["a", "b.c", 'd"e', "f\\g", "é"]
ALPHABET = ["a", "Z", "0", " ", '"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "😀", "<"]


def _extras_by_row(raw: pa.Table, used: set[str]) -> list[str | None]:
    names = [c for c in raw.column_names if c not in used]
    out = []
    for row in raw.select(names).to_pylist():
        kept = {k: v for k, v in row.items() if v is not None}
        out.append(orjson.dumps(kept).decode() if kept else None)
    return out


def _random_text(rng: random.Random) -> str | None:
    if rng.random() < 0.4:
        return None
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))


@pytest.mark.parametrize("seed", range(20))
def test_extras_match_orjson_row_by_row(seed):
    rng = random.Random(seed)
    n = rng.randint(0, 60)
    names = [rng.choice(KEYS) + str(i) for i in range(rng.randint(1, 5))]
    raw = pa.table({name: pa.array([_random_text(rng) for _ in range(n)], pa.string()) for name in names})
    used = {names[0]} if seed % 3 == 0 else set()
    assert _extras(raw, used, n).to_pylist() == _extras_by_row(raw, used)


def test_extras_of_chunked_and_all_null_rows():
    text = pa.schema([("p", pa.string()), ("q", pa.string())])
    raw = pa.concat_tables([pa.table({"p": ["x", None], "q": [None, None]}, schema=text),
                            pa.table({"p": ['y"', None], "q": ["z", None]}, schema=text)])
    assert _extras(raw, set(), 4).to_pylist() == ['{"p":"x"}', None, '{"p":"y\\"","q":"z"}', None]


@pytest.mark.parametrize("values", [
    ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00+02:00", "2024-01-01T00:00:00", None, "x+0100", ""],
    ["2024-01-01T00:00:00Z\n", "2024-01-01T00:00:00"],  # Python's $ matches before a final newline
    ["2024-01-01T00:00:00+٠٢:٠٠", "2024-01-01T00:00:00Z"],  # Python's \d matches Arabic-Indic digits
])
def test_zone_detection_matches_python_re(values):
    text = pd.Series(values, dtype=object)
    expected = [bool(v is not None and re.search(AWARE_RE, v)) for v in values]
    assert _aware(pa.array(values, pa.string()), text).tolist() == expected


def test_phone_formatting_in_parallel_equals_serial(monkeypatch):
    pairs = [(f"(20{i % 10}) 555-{i:04d}", "US") for i in range(300)] + [("+44 20 7946 0958", "GB"), ("n/a", "US")]
    monkeypatch.setattr(phones, "PARALLEL_MIN", 10)
    monkeypatch.setenv("ETL_TRANSFORM_WORKERS", "2")
    assert phones.format_all(pairs) == phones.format_many(pairs)
    assert phones.format_many([("+44 20 7946 0958", "US"), ("call me", "US")]) == ["+442079460958", "call me"]


def test_run_files_round_trip(tmp_path):
    table = pa.table({"s": ["a", None, "é"], "t": pa.array([1, 2, None], pa.timestamp("us")),
                      "b": [True, None, False]})
    writer = runfiles.PartWriter(tmp_path / "raw")
    writer.write(table)
    writer.write(table.slice(1))
    read = list(runfiles.read_parts(tmp_path / "raw"))
    assert [p.name for p, _ in read] == ["part-00000.arrow", "part-00001.arrow"]
    assert read[0][1].equals(table) and read[1][1].equals(table.slice(1))
    assert (writer.files, writer.rows) == (2, 5)
