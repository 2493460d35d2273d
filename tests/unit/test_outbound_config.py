"""Outbound sync files: the shipped ones load; invalid ones name the file, the line and the field."""

from __future__ import annotations

import pytest

from etl.config.loader import MappingError
from etl.config.outbound import load_sync, load_syncs
from tests.conftest import ROOT

DEFAULTS = """\
target:
  kind: rest
  connection: shop_api
  auth: {type: bearer}
"""

VALID = """\
source: {table: dim_customer}
key: [customer_no]
target: {path: "/api/customers/{key}"}
columns:
  customer_no: {source: customer_key}
  name: {source: customer_name, normalise: [collapse_spaces]}
"""

INVALID = [
    ("source: {table: t}\nkey: [id]\ntarget: {path: /x}\ncolumns:\n  id: {}\n",
     ["sync.yml:3", "target", "must contain {key}"]),
    ("source: {table: t, query: select 1}\nkey: [id]\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {}\n",
     ["sync.yml:1", "source", "exactly one of 'table' or 'query'"]),
    ("source: {query: select 1}\nkey: [id]\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {}\n",
     ["reads: a query source must list the warehouse tables"]),
    ("source: {table: t}\nkey: [code]\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {}\n",
     ["primary_key column 'code' is not declared"]),
    ("source: {table: t}\nkey: [id]\nmode: merge\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {}\n",
     ["sync.yml:3", "mode", "'upsert', 'update' or 'mirror'"]),
    ("source: {table: t}\nkey: [id]\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {tpye: string}\n",
     ["sync.yml:5", "columns.id.tpye", "unknown setting"]),
    ("source: {table: t}\nkey: [id]\nnot_sent: [id]\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {}\n",
     ["a key column is always sent"]),
    ("source: {table: t}\nkey: [id]\npii_fields: [email]\ntarget: {path: '/x/{key}'}\ncolumns:\n  id: {}\n",
     ["'email' is not declared under 'columns'"]),
    ("source: {table: t}\nkey: [id]\ntarget: {path: '/x/{key}', rate_limit_per_s: 0}\ncolumns:\n  id: {}\n",
     ["sync.yml:3", "rate_limit_per_s", "greater than 0"]),
    ("source: {table: t}\nkey: [id]\nmode: mirror\ntarget: {path: '/x/{key}', deactivate: {active: false}}\n"
     "columns:\n  id: {}\n", ["target.deactivate: 'active' must also be sent", "would stay deactivated"]),
    ("source: {table: t}\nkey: [id]\nmode: mirror\nnot_sent: [active]\ntarget: {path: '/x/{key}', "
     "deactivate: {active: false}}\ncolumns:\n  id: {}\n  active: {default: true}\n",
     ["target.deactivate: 'active' must also be sent"]),
    ("source: {table: t}\nkey: [id]\ntarget: {path: '/x/{key}', deactivate: {active: false}}\n"
     "columns:\n  id: {}\n  active: {default: true}\n",
     ["target.deactivate: only mode 'mirror' removes records, this sync is 'upsert'"]),
]


def _write(tmp_path, text: str, name: str = "sync.yml", defaults: str | None = DEFAULTS):
    folder = tmp_path / "shop" / "outbound"
    folder.mkdir(parents=True, exist_ok=True)
    if defaults is not None:
        (folder / "_defaults.yml").write_text(defaults)
    path = folder / name
    path.write_text(text)
    return path


def test_shipped_syncs_load_with_their_dag_ids():
    syncs = load_syncs()
    assert {"crm_customers", "won_deals", "key_accounts", "online_promotion_list"} <= set(syncs)
    assert syncs["crm_customers"].schedule.cron == "0 3 * * *"
    assert syncs["crm_customers"].schedule.timezone == "Asia/Shanghai"
    assert syncs["won_deals"].target.kind == "sql" and syncs["online_promotion_list"].mode == "mirror"
    assert all(s.dag_id == f"push_{name}" for name, s in syncs.items())


def test_valid_sync_inherits_defaults_and_is_named_after_its_file(tmp_path):
    sync = load_sync(_write(tmp_path, VALID))
    assert (sync.sync, sync.system, sync.target.connection) == ("sync", "shop", "shop_api")
    assert sync.reads == ["dim_customer"]
    assert sync.payload_columns == ["customer_no", "name"] and sync.mode == "upsert"


@pytest.mark.parametrize(("text", "fragments"), INVALID)
def test_invalid_syncs_name_file_line_and_field(tmp_path, text, fragments):
    with pytest.raises(MappingError) as err:
        load_sync(_write(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_an_error_inherited_from_defaults_points_at_the_defaults_file(tmp_path):
    path = _write(tmp_path, VALID, defaults="target:\n  kind: rest\n  connection: shop_api\n  auth: {type: oauth}\n")
    with pytest.raises(MappingError, match=r"_defaults\.yml:4 \(inherited by sync\.yml\): target\.auth\.type"):
        load_sync(path)


def test_every_broken_file_is_reported_at_once(tmp_path):
    _write(tmp_path, "source: {table: t}\n", name="a.yml")
    _write(tmp_path, "key: [id]\n", name="b.yml")
    with pytest.raises(MappingError) as err:
        load_syncs(tmp_path)
    assert "a.yml" in str(err.value) and "b.yml" in str(err.value)


def test_the_readme_example_loads_as_its_dag_and_its_error_example_is_the_real_message(tmp_path):
    from tests.helpers.push import readme_example

    root = readme_example(tmp_path)
    (sync,) = load_syncs(root).values()
    assert (sync.dag_id, sync.system, sync.target.connection) == ("push_trade_show_list", "hr", "hr_api")
    assert sync.payload_columns == ["list", "contact_no", "first_name", "last_name"]
    path = root / "hr" / "outbound" / "trade_show_list.yml"
    path.write_text(path.read_text().replace("mode: upsert", "mode: merge"))
    with pytest.raises(MappingError) as err:
        load_syncs(root)
    readme = (ROOT / "README.md").read_text().replace("\n", " ")
    quoted = "trade_show_list.yml:4: mode: Input should be 'upsert', 'update' or 'mirror'"
    assert quoted in str(err.value) and quoted in readme


@pytest.mark.parametrize("mode", ["mirror", "update"])
def test_a_file_target_is_upsert_only(tmp_path, mode):
    text = f"source: {{table: t}}\nkey: [id]\nmode: {mode}\ntarget: {{kind: file, folder: out}}\ncolumns:\n  id: {{}}\n"
    with pytest.raises(MappingError, match=rf"sync\.yml:1: .*a file target only supports 'upsert'.*not '{mode}'"):
        load_sync(_write(tmp_path, text, defaults=None))


def test_a_mirror_that_deactivates_a_field_it_also_sends_loads(tmp_path):
    text = ("source: {table: t}\nkey: [id]\nmode: mirror\ntarget: {path: '/x/{key}', deactivate: {active: false}}\n"
            "columns:\n  id: {}\n  active: {default: true, type: boolean}\n")
    assert load_sync(_write(tmp_path, text)).target.deactivate == {"active": False}
