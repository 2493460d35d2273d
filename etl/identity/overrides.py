"""`mappings/identity/overrides.yml`: a data engineer's decisions that beat the matching rules.

    customers:
      - match: {crm: "17", erp: ALFKI}       # pin: these two are the same customer
        reason: confirmed by finance (FIN-1234)
    people:
      - never: {crm: "8", erp: "8"}          # forbid: never link these two
        reason: two different people called Laura Callahan

A pin is applied before any rule (recorded with rule `override`); a veto removes the pair from every
rule's candidates. Errors name the file, the line and the fix, as mapping errors do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml
from pydantic import ValidationError, field_validator, model_validator

from etl.config.loader import MappingError, _format_errors, _read_yaml, mappings_dir
from etl.config.schema import Strict

Ref = tuple[str, str]  # (system, record id)
CUSTOMER_SYSTEMS = ("crm", "erp")
PERSON_SYSTEMS = ("hr", "erp", "crm", "oa")


def overrides_path() -> Path:
    return mappings_dir() / "identity" / "overrides.yml"


class _Override(Strict):
    SYSTEMS: ClassVar[tuple[str, ...]] = ()
    match: dict[str, str] | None = None
    never: dict[str, str] | None = None
    reason: str

    @field_validator("match", "never", mode="before")
    @classmethod
    def _ids_as_text(cls, v):
        """YAML reads `erp: 7` as a number; record ids are compared as text."""
        if isinstance(v, dict):
            return {k: (str(x) if isinstance(x, int | float) and not isinstance(x, bool) else x)
                    for k, x in v.items()}
        return v

    @field_validator("reason")
    @classmethod
    def _says_why(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("say why (ticket, who confirmed it): the reason is kept with the match")
        return v.strip()

    @model_validator(mode="after")
    def _one_pair(self) -> _Override:
        given = [k for k in ("match", "never") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'match' (pin a pair) or 'never' (forbid a pair)")
        pair = self.pair
        unknown = [s for s in pair if s not in self.SYSTEMS]
        if unknown:
            raise ValueError(f"unknown system {unknown[0]!r}; expected two of {', '.join(self.SYSTEMS)}")
        if len(pair) != 2:
            raise ValueError(f"name exactly two records of two different systems, e.g. "
                             f"{{{self.SYSTEMS[0]}: '1', {self.SYSTEMS[1]}: '2'}}; got {len(pair)}")
        blank = [s for s, v in pair.items() if not str(v).strip()]
        if blank:
            raise ValueError(f"{blank[0]}: the record id is empty")
        return self

    @property
    def action(self) -> str:
        return "match" if self.match is not None else "never"

    @property
    def pair(self) -> dict[str, str]:
        return (self.match if self.match is not None else self.never) or {}

    def refs(self) -> frozenset[Ref]:
        return frozenset((s, v.strip()) for s, v in self.pair.items())


class CustomerOverride(_Override):
    SYSTEMS: ClassVar[tuple[str, ...]] = CUSTOMER_SYSTEMS


class PersonOverride(_Override):
    SYSTEMS: ClassVar[tuple[str, ...]] = PERSON_SYSTEMS


class OverridesFile(Strict):
    customers: list[CustomerOverride] = []
    people: list[PersonOverride] = []


@dataclass(frozen=True)
class Decision:
    refs: frozenset[Ref]
    action: str  # match | never
    reason: str
    where: str  # file:line, quoted in the crosswalk so a reader finds the decision

    def other(self, ref: Ref) -> Ref:
        return next(r for r in self.refs if r != ref)


@dataclass(frozen=True)
class OverrideSet:
    """The decisions of one section (customers or people), indexed for the matcher."""

    decisions: tuple[Decision, ...] = ()
    pins: dict[Ref, list[Decision]] = field(default_factory=dict)
    vetoes: dict[frozenset[Ref], Decision] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for d in self.decisions:
            if d.action == "never":
                self.vetoes[d.refs] = d
                continue
            for ref in d.refs:
                self.pins.setdefault(ref, []).append(d)

    def forbids(self, a: Ref, b: Ref) -> Decision | None:
        return self.vetoes.get(frozenset((a, b)))


def _label(ref: Ref) -> str:
    return f"{ref[0]} {ref[1]!r}"


def _conflicts(section: str, items: list[_Override], path: Path, lines: dict) -> list[str]:
    """Decisions that contradict each other: a pair both pinned and forbidden, or a record pinned to two
    records of the same system (one record is one customer / one person)."""
    problems: list[str] = []
    seen: dict[frozenset[Ref], tuple[int, str]] = {}
    partner: dict[tuple[Ref, str], tuple[Ref, int]] = {}
    for i, item in enumerate(items):
        where = f"{path}:{lines.get((section, i), 1)}"
        refs = item.refs()
        if refs in seen:
            j, action = seen[refs]
            verb = "repeats" if action == item.action else "contradicts"
            problems.append(f"{where}: {section}.{i}: {verb} entry {section}.{j} "
                            f"(line {lines.get((section, j), 1)}) about the same pair; keep one")
        seen.setdefault(refs, (i, item.action))
        if item.action != "match":
            continue
        for ref in refs:
            other = next(r for r in refs if r != ref)
            key = (ref, other[0])
            if key in partner and partner[key][0] != other:
                j = partner[key][1]
                problems.append(f"{where}: {section}.{i}: {_label(ref)} is already pinned to "
                                f"{_label(partner[key][0])} by entry {section}.{j} (line "
                                f"{lines.get((section, j), 1)}); a record can be pinned to one "
                                f"{other[0]} record only")
            partner.setdefault(key, (other, i))
    return problems


def _has_content(path: Path) -> bool:
    """False for an empty or comments-only file (no decisions yet)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) is not None
    except yaml.YAMLError:
        return True  # let _read_yaml report where the YAML breaks


def load_overrides(path: Path | None = None) -> dict[str, OverrideSet]:
    """{'customers': ..., 'people': ...}; a missing file means no overrides."""
    path = path or overrides_path()
    if not path.exists():
        return {"customers": OverrideSet(), "people": OverrideSet()}
    data, lines = _read_yaml(path) if _has_content(path) else ({}, {})
    try:
        parsed = OverridesFile.model_validate(data)
    except ValidationError as exc:
        text = _format_errors(exc, path, lines).replace(
            "the mapping reference in README.md", "the comment at the top of mappings/identity/overrides.yml")
        raise MappingError(text) from None
    problems = [*_conflicts("customers", list(parsed.customers), path, lines),
                *_conflicts("people", list(parsed.people), path, lines)]
    if problems:
        raise MappingError("\n".join(problems))
    out = {}
    for section in ("customers", "people"):
        items = getattr(parsed, section)
        out[section] = OverrideSet(tuple(
            Decision(item.refs(), item.action, item.reason, f"{path.name}:{lines.get((section, i), 1)}")
            for i, item in enumerate(items)))
    return out
