"""mappings/models/analytics.yml: the shipped file is valid, and every mistake a user can make is named
with the file, the line and the field."""

from __future__ import annotations

import datetime as dt

import pytest

from etl.config.loader import MappingError
from etl.models.settings import DEFAULT_PATH, load_settings

VALID = """\
as_of_date: 2024-12-31
rfm:
  segments:
    - {segment: champions, r: [4, 5], f: [4, 5]}
    - {segment: everyone_else}
associations: {min_support: 0.01, min_confidence: 0.1, min_lift: 1.0, min_baskets: 2}
"""
INVALID = {
    "score_out_of_range": (VALID.replace("r: [4, 5]", "r: [4, 6]"), "line 4", "1 <= low <= high <= 5"),
    "support_above_one": (VALID.replace("min_support: 0.01", "min_support: 2"), "line 6", "min_support"),
    "no_segments": (VALID.replace("""  segments:
    - {segment: champions, r: [4, 5], f: [4, 5]}
    - {segment: everyone_else}
""", "  segments: []\n"), "line 3", "segments"),
    "typo": (VALID.replace("min_lift", "min_lfit"), "line 6", "min_lfit"),
    "bad_date": (VALID.replace("2024-12-31", "yesterday"), "line 1", "as_of_date"),
}


def test_the_shipped_settings_load():
    settings = load_settings(DEFAULT_PATH)
    assert settings.as_of_date == "latest" and settings.rfm.segments[0].segment == "champions"


def test_a_fixed_as_of_date(tmp_path):
    path = tmp_path / "analytics.yml"
    path.write_text(VALID)
    assert load_settings(path).as_of_date == dt.date(2024, 12, 31)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_mistakes_are_named(tmp_path, case):
    text, line, words = INVALID[case]
    path = tmp_path / "analytics.yml"
    path.write_text(text)
    with pytest.raises(MappingError) as err:
        load_settings(path)
    message = str(err.value)
    assert f"{path}:{line.split()[1]}" in message and words in message, message
