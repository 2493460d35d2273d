"""Mapping files: valid ones load with defaults inherited; invalid ones name file, line, field and fix."""

from __future__ import annotations

import textwrap

import pytest

from etl.config.loader import MappingError, load_all, load_system

SYSTEM = """\
system: shop
schedule: {cron: "0 3 * * *", timezone: Europe/Berlin}
defaults:
  source:
    kind: rest
    connection: shop_api
    records_path: data
"""

VALID_ENTITY = """\
primary_key: [id]
source:
  path: /orders
columns:
  id: {type: integer}
  total: {type: "decimal(12,2)"}
  placed_at: {type: timestamp, formats: [iso]}
"""

INVALID_ENTITIES = [
    # (entity yaml, expected fragments of the message)
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {type: strng}\n",
     ["orders.yml:4", "columns.id.type", "unknown type 'strng'"]),
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {tpye: string}\n",
     ["orders.yml:4", "columns.id.tpye", "unknown setting"]),
    ("primary_key: [code]\nsource: {path: /x}\ncolumns:\n  id: {}\n",
     ["orders.yml", "primary_key column 'code' is not declared"]),
    ("source: {path: /x}\ncolumns:\n  id: {}\n", ["primary_key", "required setting is missing"]),
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {normalise: [shout]}\n",
     ["orders.yml:4", "unknown normaliser 'shout'"]),
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {}\nfilters:\n  - {column: id, op: in}\n",
     ["orders.yml:6", "filters.0", "needs 'values'"]),
    ("primary_key: [id]\nsource: {path: /x, paginator: {type: scroll}}\ncolumns:\n  id: {}\n",
     ["orders.yml:2", "source.paginator.type"]),
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {derive: {concat: [a], coalesce: [b]}}\n",
     ["orders.yml:4", "derive takes exactly one of"]),
    ("primary_key: [id\nsource: {path: /x}\n", ["orders.yml:", "not valid YAML"]),
    # a filter value the run could not compare with its column: refused here, not as a bare ArrowInvalid
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {}\n  n: {type: integer}\n"
     "filters:\n  - {column: n, op: ge, value: abc}\n",
     ["orders.yml:7", "filters.0.value", "'abc' cannot be compared with column 'n' (type integer)"]),
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {}\n  d: {type: date}\n"
     "filters:\n  - {column: d, op: in, values: [2024-01-01, yesterday]}\n",
     ["orders.yml:7", "filters.0.values.1", "'yesterday' cannot be compared with column 'd' (type date)"]),
    ("primary_key: [id]\nsource: {path: /x}\ncolumns:\n  id: {}\n  x: {derive: {function: no_such_fn, args: [id]}}\n",
     ["orders.yml:5", "columns.x.derive", "derive function 'no_such_fn' is not registered"]),
]


def _write(tmp_path, entity_yaml: str, system_yaml: str = SYSTEM):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "_system.yml").write_text(system_yaml)
    (folder / "orders.yml").write_text(textwrap.dedent(entity_yaml))
    return folder


def test_valid_entity_inherits_system_defaults(tmp_path):
    cfg = load_system(_write(tmp_path, VALID_ENTITY))
    orders = cfg.entities["orders"]
    assert orders.source.connection == "shop_api"
    assert orders.source.records_path == "data"
    assert orders.target == "stg_shop__orders"
    assert orders.pipeline == "shop_sync"
    assert cfg.system.schedule.timezone == "Europe/Berlin"


@pytest.mark.parametrize(("entity_yaml", "fragments"), INVALID_ENTITIES)
def test_invalid_entity_errors_name_file_line_and_field(tmp_path, entity_yaml, fragments):
    with pytest.raises(MappingError) as err:
        load_system(_write(tmp_path, entity_yaml))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_error_from_inherited_default_points_at_the_defaults(tmp_path):
    bad_system = SYSTEM.replace("records_path: data", "records_path: data\n    page_size: -5")
    with pytest.raises(MappingError) as err:
        load_system(_write(tmp_path, VALID_ENTITY, bad_system))
    assert "inherited from _system.yml defaults" in str(err.value)
    assert "source.page_size" in str(err.value)


def test_missing_system_file_is_explained(tmp_path):
    (tmp_path / "shop").mkdir()
    with pytest.raises(MappingError, match="needs a _system.yml"):
        load_system(tmp_path / "shop")


def test_project_mappings_all_valid():
    systems = load_all()
    assert "crm" in systems
    assert {"companies", "contacts", "deals", "owners"} <= set(systems["crm"].entities)
