"""The file source's pure parts: readers, explode, ledger decisions, batching, the landing trigger's memory,
the mapping rules for files and `schedule.on_file`, and the `person_email` derive function."""

from __future__ import annotations

import datetime as dt
import io
import os
import re

import pyarrow as pa
import pytest
from openpyxl import Workbook
from pydantic import ValidationError

from etl.config.schema import Entity, FileSource, Schedule
from etl.orchestration.triggers import ArrivalTracker, scan
from etl.sources.file_readers import FileRejected, explode, read_file
from etl.sources.files import PROCESSED, REJECTED, _TableBatcher, decide, destination, landing_files
from etl.transform.registry import person_email

CSV = FileSource(landing="l", pattern="*.csv", format="csv", required_columns=["id", "name"])
XLSX = FileSource(landing="l", pattern="*.xlsx", format="xlsx")
JSON = FileSource(landing="l", pattern="*.json", format="json")


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


# ------------------------------------------------------------------------------------------------ csv


def test_csv_is_all_text_with_empty_cells_null_and_quotes_honoured():
    data = b'id,name,note\r\n1,Ann,"a, b"\r\n2,,"say ""hi"""\r\n'
    table = read_file(data, CSV)
    assert all(t == pa.string() for t in table.schema.types)
    assert rows(table) == [{"id": "1", "name": "Ann", "note": "a, b"},
                           {"id": "2", "name": None, "note": 'say "hi"'}]


def test_csv_header_only_is_an_empty_load_and_a_bom_is_dropped():
    table = read_file("\ufeffid,name\n".encode(), CSV)
    assert table.column_names == ["id", "name"] and table.num_rows == 0


def test_csv_other_delimiter_and_encoding():
    cfg = FileSource(landing="l", pattern="*", format="csv", delimiter=";", encoding="cp1252")
    assert rows(read_file("id;name\n1;Müller\n".encode("cp1252"), cfg)) == [{"id": "1", "name": "Müller"}]


@pytest.mark.parametrize(("data", "reason"), [
    (b'id,name\n1,"never closed\n2,Bob\n', "unclosed quote"),
    (b"id,name\n1,Ann\n2,Bob,extra,fields\n", "line 3 has 4 fields, the header has 2"),
    ("id,name\n1,Müller\n".encode("cp1252"), "not valid utf-8 text: byte 0xfc on line 2"),
    (b"id,other\n1,x\n", "missing required column(s) name; the file has: id, other"),
    (b"id,name,id\n1,a,2\n", "repeats column(s) id"),
    (b"", "empty file"),
])
def test_csv_rejections_say_why(data, reason):
    with pytest.raises(FileRejected, match=re.escape(reason)):
        read_file(data, CSV)


# ----------------------------------------------------------------------------------------------- xlsx


def _xlsx(header: list, *body: list, title: str = "Sheet") -> bytes:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.title = title
    sheet.append(header)
    for r in body:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_values_become_their_text():
    data = _xlsx(["id", "due", "at", "n", "x", "ok", "empty"],
                 [1, dt.date(2026, 3, 3), dt.datetime(2026, 3, 4, 17, 21), 7.5, "Y", True, None],
                 [None, None, None, None, None, None, None])  # a blank row is no record
    table = read_file(data, XLSX)
    assert all(t == pa.string() for t in table.schema.types)
    assert rows(table) == [{"id": "1", "due": "2026-03-03T00:00:00", "at": "2026-03-04T17:21:00", "n": "7.5",
                            "x": "Y", "ok": "true", "empty": None}]


def test_xlsx_sheet_by_name_and_missing_sheet():
    data = _xlsx(["id"], [1], title="tasks")
    by_name = FileSource(landing="l", pattern="*", format="xlsx", sheet="tasks")
    assert rows(read_file(data, by_name)) == [{"id": "1"}]
    with pytest.raises(FileRejected, match="no sheet 'other'; the workbook has: tasks"):
        read_file(data, FileSource(landing="l", pattern="*", format="xlsx", sheet="other"))


def test_xlsx_truncated_or_values_outside_the_header_are_rejected():
    data = _xlsx(["id", "name"], [1, "a"])
    with pytest.raises(FileRejected, match="not a readable XLSX workbook"):
        read_file(data[: len(data) // 2], XLSX)
    with pytest.raises(FileRejected, match="row 2 has values beyond the 2 named columns"):
        read_file(_xlsx(["id", "name"], [1, "a", "stray"]), XLSX)


# ----------------------------------------------------------------------------------------------- json

DOCS = b"""{"orders": [
  {"PONumber": 1, "Ship": {"city": "Rome"}, "LineItems": [{"ItemNumber": 1, "Part": {"Price": 2.5}},
                                                           {"ItemNumber": 2, "Part": {"Price": 3}}]},
  {"PONumber": 2, "Ship": {"city": "Oslo"}, "LineItems": []},
  {"PONumber": 3}
]}"""


def test_json_records_are_flattened_and_lists_kept_as_json_text():
    table = read_file(DOCS, FileSource(landing="l", pattern="*", format="json", records_path="orders"))
    first = rows(table)[0]
    assert first["PONumber"] == "1" and first["Ship.city"] == "Rome"
    assert first["LineItems"] == '[{"ItemNumber":1,"Part":{"Price":2.5}},{"ItemNumber":2,"Part":{"Price":3}}]'
    assert table.num_rows == 3


def test_json_explode_makes_child_rows_carrying_parent_fields():
    cfg = FileSource(landing="l", pattern="*", format="json", records_path="orders", explode="LineItems",
                     parent_fields={"PONumber": "po", "Ship.city": "city"},
                     required_columns=["po", "ItemNumber"])
    assert rows(read_file(DOCS, cfg)) == [
        {"ItemNumber": "1", "Part.Price": "2.5", "po": "1", "city": "Rome"},
        {"ItemNumber": "2", "Part.Price": "3", "po": "1", "city": "Rome"},
    ]


def test_explode_carried_field_wins_and_bad_shapes_are_rejected():
    assert explode([{"id": 1, "items": [{"id": 9, "x": 1}]}], "items", {"id": "id"}) == [{"id": 1, "x": 1}]
    assert explode([{"items": ["a"]}], "items", {}) == [{"value": "a"}]
    with pytest.raises(FileRejected, match="record 1: 'items' is dict, expected a list"):
        explode([{"items": {"a": 1}}], "items", {})


def test_json_truncated_or_without_records_list():
    with pytest.raises(FileRejected, match="not valid JSON"):
        read_file(DOCS[:100], JSON)
    nested = FileSource(landing="l", pattern="*", format="json", records_path="orders")
    with pytest.raises(FileRejected, match="expected a list of records at 'orders'"):
        read_file(b'{"orders": 5}', nested)
    no_records = FileSource(landing="l", pattern="*", format="json", required_columns=["x"])
    assert read_file(b"[]", no_records).num_rows == 0


# ------------------------------------------------------------------------------------ ledger decisions


def test_decide_new_duplicate_and_correction():
    assert decide("c1", []) == ("load", None)
    assert decide("c1", ["c1"]) == ("duplicate", None)
    assert decide("c1", ["c0", "c1"]) == ("duplicate", None)  # a version loaded earlier is still a duplicate
    assert decide("c2", ["c0", "c1"]) == ("load", "c1")  # corrects the version the table holds now


def test_destination_waits_for_every_entity_reading_the_file():
    both = {"purchase_requests", "purchase_request_lines"}
    assert destination(both, {"purchase_requests": ("loaded", None)}) is None
    assert destination(both, {"purchase_requests": ("loaded", None),
                              "purchase_request_lines": ("duplicate", None)}) == PROCESSED
    assert destination(both, {"purchase_requests": ("loaded", None),
                              "purchase_request_lines": ("rejected", "truncated")}) == REJECTED
    assert destination({"approvals"}, {"approvals": ("rejected", "bad")}) == REJECTED


def test_landing_files_skip_hidden_folders_and_other_patterns(tmp_path):
    for name in ("a_2.csv", "a_1.csv", ".a_3.csv.part", "b_1.csv"):
        (tmp_path / name).write_text("x")
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "a_0.csv").write_text("x")
    os.utime(tmp_path / "a_1.csv", ns=(1, 1))  # older: read first, so a later drop's rows win
    assert [p.name for p in landing_files(tmp_path, "a_*.csv")] == ["a_1.csv", "a_2.csv"]
    assert landing_files(tmp_path / "missing", "*") == []


def test_batcher_cuts_exact_batches_across_files_with_different_columns():
    batcher = _TableBatcher(3)
    first = pa.table({"a": pa.array(["1", "2"], pa.string())})
    second = pa.table({"b": pa.array(["x", "y", "z"], pa.string())})
    empty = pa.table({"a": pa.array([], pa.string())})
    out = [*batcher.add(first), *batcher.add(empty), *batcher.add(second), *batcher.flush()]
    assert [t.num_rows for t in out] == [3, 2]
    assert out[0].to_pylist() == [{"a": "1", "b": None}, {"a": "2", "b": None}, {"a": None, "b": "x"}]


# ----------------------------------------------------------------------------------- landing trigger


def test_tracker_announces_a_file_once_it_has_settled_and_again_when_it_changes():
    tracker = ArrivalTracker()
    assert tracker.update({"a.csv": (10, 1)}) == []  # first look: may still be written
    assert tracker.update({"a.csv": (20, 2)}) == []  # still growing
    assert tracker.update({"a.csv": (20, 2)}) == ["a.csv"]  # settled: announce
    assert tracker.update({"a.csv": (20, 2), "b.csv": (5, 3)}) == []  # a.csv not again
    assert tracker.update({"a.csv": (20, 2), "b.csv": (5, 3)}) == ["b.csv"]
    assert tracker.update({}) == []  # moved to processed/
    tracker.update({"a.csv": (20, 2)})
    assert tracker.update({"a.csv": (20, 2)}) == ["a.csv"]  # the same name delivered again


def test_scan_ignores_hidden_files_folders_and_other_names(tmp_path):
    (tmp_path / "approvals_1.csv").write_text("abc")
    (tmp_path / ".approvals_2.csv.part").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "processed").mkdir()
    found = scan(str(tmp_path), "*.csv")
    assert list(found) == ["approvals_1.csv"] and found["approvals_1.csv"][0] == 3
    assert scan(str(tmp_path / "missing"), "*") == {}


# --------------------------------------------------------------------------------------- configuration


def _entity(**source) -> dict:
    return {"system": "oa", "entity": "x", "primary_key": ["id"],
            "source": {"kind": "files", "landing": "oa/landing", "pattern": "*.csv", "format": "csv",
                       **source},
            "columns": {"id": {}, "source_file": {"source": "_file"}}}


def test_files_entity_needs_the_file_column():
    data = _entity()
    Entity.model_validate(data)
    del data["columns"]["source_file"]
    with pytest.raises(ValidationError, match="needs a column with 'source: _file'"):
        Entity.model_validate(data)


@pytest.mark.parametrize(("source", "message"), [
    ({"explode": "LineItems"}, "apply to format: json only"),
    ({"format": "json", "parent_fields": {"a": "b"}}, "parent_fields needs 'explode'"),
    ({"format": "parquet"}, "Input should be 'csv', 'xlsx' or 'json'"),
])
def test_file_source_options_are_checked(source, message):
    with pytest.raises(ValidationError, match=message):
        Entity.model_validate(_entity(**source))


def test_schedule_on_file_settings():
    assert Schedule(cron="0 6 * * *", on_file="*.csv").poll_s == 2.0
    with pytest.raises(ValidationError):
        Schedule(on_file="*", poll_s=0)


# ------------------------------------------------------------------------------------------- derive


def test_person_email_matches_the_oa_address_scheme():
    from demo.oa_files import person_email as reference

    first = ["Steven", "Jose Manuel", "Ñoño", None, "Lex"]
    last = ["King", "Urman", "O'Neill", "Garcia", None]
    got = person_email(pa.array(first), pa.array(last), domain="hr.example").to_pylist()
    assert got == ["steven.king@hr.example", "jose.manuel.urman@hr.example", "o.o.o.neill@hr.example",
                   None, None]
    assert got[:3] == [reference(f, n) for f, n in zip(first[:3], last[:3], strict=True)]
    with pytest.raises(ValueError, match="needs kwargs: {domain"):
        person_email(pa.array(["a"]), pa.array(["b"]))


# ------------------------------------------------------------------------------------------ DAG schedule


def test_oa_sync_runs_on_cron_or_on_a_landed_file():
    from airflow.sdk import AssetOrTimeSchedule

    from etl.orchestration.dag_factory import build_dag
    from etl.orchestration.triggers import LandingFileTrigger

    dag = build_dag("oa")
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 6 * * *"
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, LandingFileTrigger)
    assert watcher.trigger.serialize() == ("etl.orchestration.triggers.LandingFileTrigger",
                                           {"folder": "oa/landing", "pattern": "*", "poll_s": 2.0})


def test_on_file_without_a_file_entity_is_a_mapping_error(tmp_path, monkeypatch):
    from etl.config.loader import MappingError
    from etl.orchestration.dag_factory import build_dag

    folder = tmp_path / "hr"
    folder.mkdir()
    (folder / "_system.yml").write_text("schedule: {on_file: '*'}\n")
    (folder / "jobs.yml").write_text("primary_key: [id]\nsource: {kind: rest, connection: c, path: /x}\n"
                                     "columns: {id: {}}\n")
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(tmp_path))
    with pytest.raises(MappingError, match=r"_system.yml: schedule.on_file: no entity of 'hr' reads files"):
        build_dag("hr")


# ------------------------------------------------------------------------ issue 9: long fields, symlinks


def test_a_csv_field_over_128_kib_loads():
    """Before the fix the csv module's 128 KiB default rejected the file with a hint about quoting."""
    note = "x" * 300_000
    assert rows(read_file(f'id,name\n1,"{note}"\n'.encode(), CSV)) == [{"id": "1", "name": note}]


def test_a_csv_field_over_the_documented_limit_is_rejected_saying_so():
    from etl.sources.file_readers import MAX_FIELD_CHARS

    with pytest.raises(FileRejected, match=r"a field on line 2 is longer than 16,777,216 characters"):
        read_file(b'id,name\n1,"' + b"y" * (MAX_FIELD_CHARS + 1) + b'"\n', CSV)


def test_a_symlink_out_of_the_landing_folder_is_rejected_not_followed(tmp_path):
    from etl.sources.files import _take, outside_link

    landing, outside = tmp_path / "landing", tmp_path / "secret"
    landing.mkdir()
    outside.mkdir()
    (outside / "passwords.csv").write_text("id,name\n1,root\n")
    (landing / "a.csv").symlink_to(outside / "passwords.csv")
    (landing / "real.csv").write_text("id,name\n2,Bob\n")
    (landing / "b.csv").symlink_to(landing / "real.csv")  # inside the folder: a plain alias, read
    entity = Entity(system="s", entity="e", primary_key=["id"], source=CSV,
                    columns={"id": {}, "name": {}, "f": {"source": "_file"}})
    entry, table = _take(landing / "a.csv", CSV, [], entity)
    assert table is None and entry.status == "rejected"
    assert entry.reason.startswith(f"a symbolic link to {outside / 'passwords.csv'}, outside the landing folder")
    assert outside_link(landing / "b.csv") is None
    entry, table = _take(landing / "b.csv", CSV, [], entity)
    assert entry.status == "loaded" and table.column("name").to_pylist() == ["Bob"]
