"""Registered derive functions used by mappings and the identity rules."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from etl.config.schema import Derive
from etl.transform.registry import company_key, derive_column, email_domain


@pytest.mark.parametrize(("a", "b"), [
    ("Acme, Inc.", "ACME Inc"),
    ("Gonçalves Ltda.", "GONCALVES LTDA"),
    ("Müller GmbH", "muller"),
    ("Foo S.A.", "foo"),
])
def test_company_key_ignores_case_accents_punctuation_and_legal_suffix(a, b):
    assert company_key(pa.array([a])).to_pylist() == company_key(pa.array([b])).to_pylist()


def test_company_key_keeps_distinct_names_apart():
    assert company_key(pa.array(["Acme Inc"])).to_pylist() != company_key(pa.array(["Acne Inc"])).to_pylist()


def test_email_domain():
    assert email_domain(pa.array(["a@B.com", "bad", None])).to_pylist() == ["b.com", None, None]


def test_unknown_function_names_the_known_ones_when_the_mapping_is_loaded():
    with pytest.raises(ValidationError, match="not registered; built-in: .*company_key"):
        Derive(function="nope", args=["x"])


def test_a_keyword_the_function_does_not_take_fails_at_load():
    with pytest.raises(ValidationError, match="derive function 'equals': got an unexpected keyword argument 'vale'"):
        Derive(function="equals", args=["x"], kwargs={"vale": 1})
    assert derive_column(pa.table({"x": ["a", "b"]}), Derive(function="is_in", args=["x"], kwargs={"values": ["b"]})
                         ).to_pylist() == [False, True]


FOLDED = [  # letters NFKD alone cannot fold (it drops them) and plain accents
    ("Søren Østergaard ApS", "soren ostergaard aps"),
    ("Ærø Straße Bau GmbH", "aero strasse bau"),
    ("Łódź Đorđević Þórsson", "lodz dordevic thorsson"),
    ("Gonçalves & Filhos Ltda.", "goncalves filhos"),
]


@pytest.mark.parametrize(("name", "key"), FOLDED)
def test_the_stored_name_key_equals_the_key_identity_matching_uses(name, key):
    from etl.config.loader import load_system
    from etl.identity.rules import company_keys, person_name_key
    from etl.transform.mapping import map_batch
    from etl.transform.normalise import fold_accents
    from tests.conftest import ROOT

    companies = load_system(ROOT / "mappings" / "crm").entities["companies"]
    raw = pa.table({"id": ["1"], "properties.name": [name], "archived": ["false"]})
    stored = map_batch(raw, companies).table.column("name_key").to_pylist()  # what stg_crm__companies holds
    assert stored == company_keys([name]) == [key]
    assert fold_accents("Søren") == "Soren" and person_name_key("  Søren  Łukasiewicz ") == "soren lukasiewicz"
