"""mappings/identity/overrides.yml: valid files load; every error a data engineer can see names the file,
the line, the entry and the fix."""

from __future__ import annotations

import textwrap

import pytest

from etl.config.loader import MappingError
from etl.identity.overrides import load_overrides, overrides_path

VALID = [
    ("", {"customers": 0, "people": 0}),
    ("# nothing decided yet\n", {"customers": 0, "people": 0}),
    ("customers: []\npeople: []\n", {"customers": 0, "people": 0}),
    ("""\
     customers:
       - match: {crm: "17", erp: ALFKI}
         reason: confirmed by finance (FIN-1234)
       - never: {crm: 18, erp: ALFKI}
         reason: a namesake
     people:
       - match: {crm: "7", hr: 100}
         reason: same person, CRM account opened before the HR record
       - never: {erp: 8, oa: laura@hr.example}
         reason: two Lauras
     """, {"customers": 2, "people": 2}),
]

INVALID = [
    # (file text, fragments the message must contain)
    ("customers:\n  - match: {crm: '1'}\n    reason: x\n",
     ["overrides.yml:2", "customers.0", "name exactly two records of two different systems"]),
    ("customers:\n  - match: {crm: '1', hr: '2'}\n    reason: x\n",
     ["overrides.yml:2", "customers.0", "unknown system 'hr'; expected two of crm, erp"]),
    ("people:\n  - match: {crm: '1', hr: '2', erp: '3'}\n    reason: x\n",
     ["overrides.yml:2", "people.0", "got 3"]),
    ("people:\n  - match: {crm: '1', ldap: '2'}\n    reason: x\n",
     ["people.0", "unknown system 'ldap'; expected two of hr, erp, crm, oa"]),
    ("customers:\n  - match: {crm: '1', erp: A}\n    never: {crm: '1', erp: A}\n    reason: x\n",
     ["overrides.yml:2", "give exactly one of 'match' (pin a pair) or 'never' (forbid a pair)"]),
    ("customers:\n  - match: {crm: '1', erp: A}\n",
     ["overrides.yml:2", "customers.0.reason", "required setting is missing"]),
    ("customers:\n  - match: {crm: '1', erp: A}\n    reason: '  '\n",
     ["overrides.yml:3", "customers.0.reason", "say why"]),
    ("customers:\n  - match: {crm: '1', erp: A}\n    reason: x\n    why: y\n",
     ["overrides.yml:4", "customers.0.why", "unknown setting (check the spelling against the comment at the "
                                            "top of mappings/identity/overrides.yml)"]),
    ("customers:\n  - match: {crm: '', erp: A}\n    reason: x\n",
     ["overrides.yml:2", "crm: the record id is empty"]),
    ("companies:\n  - match: {crm: '1', erp: A}\n    reason: x\n",
     ["overrides.yml:1", "companies", "unknown setting"]),
    ("customers:\n  - match: {crm: '1', erp: A}\n    reason: x\n  - never: {erp: A, crm: 1}\n    reason: y\n",
     ["overrides.yml:4", "customers.1: contradicts entry customers.0 (line 2) about the same pair"]),
    ("customers:\n  - match: {crm: '1', erp: A}\n    reason: x\n"
     "  - match: {crm: '1', erp: B}\n    reason: y\n",
     ["overrides.yml:4", "crm '1' is already pinned to erp 'A' by entry customers.0 (line 2)",
      "a record can be pinned to one erp record only"]),
    ("people:\n  - match: {crm: '1', hr: 5}\n    reason: x\n  - match: {crm: '1', hr: 5}\n    reason: x\n",
     ["overrides.yml:4", "people.1: repeats entry people.0"]),
    ("customers: [\n", ["overrides.yml:", "not valid YAML"]),
    ("- match: {crm: '1', erp: A}\n", ["overrides.yml:1", "expected a mapping of settings at the top level"]),
]


def _file(tmp_path, text: str):
    path = tmp_path / "overrides.yml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(("text", "counts"), VALID)
def test_valid_files_load(tmp_path, text, counts):
    loaded = load_overrides(_file(tmp_path, text))
    assert {k: len(v.decisions) for k, v in loaded.items()} == counts


def test_ids_are_text_and_decisions_remember_where_they_came_from(tmp_path):
    loaded = load_overrides(_file(tmp_path, VALID[3][0]))["customers"]
    pin, veto = loaded.decisions
    assert pin.refs == {("crm", "17"), ("erp", "ALFKI")} and pin.where == "overrides.yml:2"
    assert loaded.forbids(("erp", "ALFKI"), ("crm", "18")) is veto and veto.where == "overrides.yml:4"
    assert loaded.pins[("crm", "17")] == [pin]


@pytest.mark.parametrize(("text", "fragments"), INVALID)
def test_invalid_files_name_file_line_entry_and_fix(tmp_path, text, fragments):
    with pytest.raises(MappingError) as err:
        load_overrides(_file(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_a_missing_file_means_no_overrides(tmp_path):
    assert all(not s.decisions for s in load_overrides(tmp_path / "absent.yml").values())


def test_the_project_file_is_valid():
    assert overrides_path().exists()
    load_overrides()
