"""Mirror mode with `deactivate`: a record that left the source stays in the target, switched off.

Many targets must keep history (an ERP cancels an order, a marketing tool unsubscribes a member), so
a mirror sync may PATCH (REST) or UPDATE (SQL) configured fields instead of deleting. Each case reads
the target back itself: the record still exists with the configured value and nothing else changed;
etl_push_runs counts it under `deleted`, apart from `selected = created + updated + unchanged +
rejected`; a rerun sends nothing; a record that comes back is switched on again by its payload; the
max-delete guard stops deactivations exactly as it stops deletes; a deactivation the target refuses is
recorded with its reason, keeps its state (tried again next run) and fails the run.
"""

from __future__ import annotations

import pytest

from etl.push.run import PushError, push
from tests.helpers.push import execute, oa_server, put_table, sales_orders, sqlite_erp, sync_of, target_records, writes
from tests.helpers.warehouse import rows

MEMBERS = "/api/v1/marketing_list_members/{key}"


def audit(url: str, run_id: str) -> dict:
    cols = "status, selected, created, updated, deleted, unchanged, rejected, error"
    row = rows(url, f"SELECT {cols} FROM etl_push_runs WHERE run_id = :r", r=run_id)[0]
    return dict(zip(cols.split(", "), row, strict=True))


def reconciles(a: dict) -> bool:
    return a["selected"] == a["created"] + a["updated"] + a["unchanged"] + a["rejected"]


def member_sync(**target):
    return sync_of(source={"table": "people"}, key=["contact_no"], mode="mirror", max_delete_share=0.2,
                   target={"kind": "rest", "connection": "test_oa", "path": MEMBERS, **target},
                   columns={"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"},
                            "subscribed": {"default": True, "type": "boolean"}})


def people(n: int) -> list[dict]:
    return [{"id": str(i), "last_name": f"L{i}"} for i in range(1, n + 1)]


def test_rest_mirror_deactivate_patches_the_field_keeps_the_record_and_reruns_idle(tmp_duckdb_url):
    url = tmp_duckdb_url
    sync = member_sync(deactivate={"subscribed": False})
    put_table(url, "people", people(10))
    with oa_server() as srv:
        assert push(sync, "a1", url).counts["created"] == 10
        execute(url, "DELETE FROM people WHERE id = '4'")
        before = writes(srv)
        second = push(sync, "a2", url)
        assert writes(srv) - before == 1  # one PATCH, no DELETE, nothing re-sent
        held = target_records(srv, "marketing_list_members")
        assert len(held) == 10 and held["4"]["subscribed"] is False  # still there, switched off
        assert {k: r["last_name"] for k, r in held.items()} == {str(i): f"L{i}" for i in range(1, 11)}
        assert all(r["subscribed"] is True for k, r in held.items() if k != "4")
        a = audit(url, "a2")
        assert (a["status"], a["selected"], a["deleted"], a["unchanged"]) == ("success", 9, 1, 9) and reconciles(a)
        assert second.counts["deleted"] == 1
        assert rows(url, "SELECT count(*) FROM etl_push_state WHERE key = '4'") == [(0,)]

        idle_before = writes(srv)
        idle = push(sync, "a3", url)
        assert writes(srv) == idle_before and idle.requests == 0  # the deactivated record is not sent again
        a = audit(url, "a3")
        assert (a["deleted"], a["unchanged"], a["status"]) == (0, 9, "success") and reconciles(a)

        execute(url, "INSERT INTO people VALUES ('4', 'L4')")  # back in the audience: switched on again
        back = push(sync, "a4", url)
        assert back.counts["created"] + back.counts["updated"] == 1
        held = target_records(srv, "marketing_list_members")
        assert len(held) == 10 and held["4"]["subscribed"] is True and reconciles(audit(url, "a4"))

        execute(url, "DELETE FROM people WHERE id IN ('1', '2', '3')")  # 30% would go: the guard stops it
        before = writes(srv)
        with pytest.raises(PushError, match=r"mirror would delete 3 of 10 records \(30%\), above max_delete_share"):
            push(sync, "a5", url)
        assert writes(srv) == before
        assert all(r["subscribed"] is True for r in target_records(srv, "marketing_list_members").values())
        assert audit(url, "a5")["status"] == "failed"
        assert rows(url, "SELECT count(*) FROM etl_push_state WHERE hash IS NOT NULL") == [(10,)]


def test_a_deactivation_the_target_refuses_is_recorded_kept_and_fails_the_run(tmp_duckdb_url):
    url = tmp_duckdb_url
    sync = member_sync(deactivate={"subscribed": "no"})  # the OA wants a boolean: 422 naming the field
    put_table(url, "people", people(10))
    with oa_server() as srv:
        push(sync, "b1", url)
        execute(url, "DELETE FROM people WHERE id = '7'")
        with pytest.raises(PushError, match=r"1 deactivation\(s\) refused by the target"):
            push(sync, "b2", url)
        assert target_records(srv, "marketing_list_members")["7"]["subscribed"] is True
    a = audit(url, "b2")
    assert (a["status"], a["deleted"], a["rejected"], a["unchanged"], a["selected"]) == ("failed", 0, 0, 9, 9)
    assert rows(url, "SELECT key, reason FROM etl_push_rejects WHERE run_id = 'b2'") == [
        ("7", "deactivate refused: 422: subscribed: must be of type boolean")]
    assert rows(url, "SELECT count(*) FROM etl_push_state WHERE key = '7' AND hash IS NOT NULL") == [(1,)]


@pytest.fixture
def erp_orders_db(tmp_path):
    with sqlite_erp(tmp_path, "test_erp") as url:
        yield url


def orders(url: str) -> dict[str, tuple]:
    return sales_orders(url, "order_no, amount_minor, status")


def order_sync(**target):
    return sync_of(source={"table": "deals"}, key=["crm_deal_id"], mode="mirror", max_delete_share=0.25,
                   target={"kind": "sql", "connection": "test_erp", "table": "sales_orders",
                           "key_column": "crm_deal_id", "id_column": "order_no", **target},
                   columns={"crm_deal_id": {"source": "id"}, "deal_name": {"source": "name"},
                            "order_date": {"default": "20240305"}, "amount_minor": {"source": "cents",
                                                                                    "type": "bigint"},
                            "currency": {"default": "USD"}, "status": {"default": "open"}})


def test_sql_mirror_deactivate_updates_the_column_keeps_the_row_and_reruns_idle(erp_orders_db, tmp_duckdb_url):
    url = tmp_duckdb_url
    sync = order_sync(deactivate={"status": "cancelled"})
    put_table(url, "deals", [{"id": f"d{i}", "name": f"Deal {i}", "cents": str(100 * i)} for i in range(1, 9)])
    assert push(sync, "s1", url).counts["created"] == 8
    first = orders(erp_orders_db)
    execute(url, "DELETE FROM deals WHERE id = 'd2'")
    second = push(sync, "s2", url)
    held = orders(erp_orders_db)
    assert held["d2"] == (first["d2"][0], 200, "cancelled")  # the same ERP order, cancelled, not deleted
    assert {k: v for k, v in held.items() if k != "d2"} == {k: v for k, v in first.items() if k != "d2"}
    a = audit(url, "s2")
    assert (a["status"], a["selected"], a["deleted"], a["unchanged"]) == ("success", 7, 1, 7) and reconciles(a)
    assert second.requests == 1

    idle = push(sync, "s3", url)
    assert idle.requests == 0 and orders(erp_orders_db) == held and reconciles(audit(url, "s3"))
    assert audit(url, "s3")["deleted"] == 0

    execute(url, "INSERT INTO deals VALUES ('d2', 'Deal 2', '200')")  # won again: the order reopens
    assert push(sync, "s4", url).counts["updated"] == 1
    assert orders(erp_orders_db)["d2"] == (first["d2"][0], 200, "open") and len(orders(erp_orders_db)) == 8

    execute(url, "DELETE FROM deals WHERE id IN ('d1', 'd3', 'd5')")  # 3 of 8 (38%) above 25%
    with pytest.raises(PushError, match=r"mirror would delete 3 of 8 records"):
        push(sync, "s5", url)
    assert orders(erp_orders_db) == {k: (v[0], v[1], "open") for k, v in first.items()}


def test_a_deactivate_value_the_databases_check_refuses_is_recorded_and_fails_the_run(erp_orders_db, tmp_duckdb_url):
    url = tmp_duckdb_url
    sync = order_sync(deactivate={"status": "closed"})  # the ERP knows open and cancelled only
    put_table(url, "deals", [{"id": f"d{i}", "name": f"Deal {i}", "cents": str(100 * i)} for i in range(1, 9)])
    push(sync, "c1", url)
    execute(url, "DELETE FROM deals WHERE id = 'd2'")
    with pytest.raises(PushError, match=r"1 deactivation\(s\) refused by the target"):
        push(sync, "c2", url)
    assert orders(erp_orders_db)["d2"][2] == "open" and len(orders(erp_orders_db)) == 8
    [(key, reason)] = rows(url, "SELECT key, reason FROM etl_push_rejects WHERE run_id = 'c2'")
    assert key == "d2" and reason.startswith("deactivate refused: CHECK constraint failed") and "status" in reason
    a = audit(url, "c2")
    assert (a["status"], a["deleted"], a["rejected"]) == ("failed", 0, 0) and reconciles(a)
    assert rows(url, "SELECT count(*) FROM etl_push_state WHERE key = 'd2' AND hash IS NOT NULL") == [(1,)]
