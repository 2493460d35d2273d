"""Link records of several systems into entities (customers, people), never forcing a doubtful pair.

The first system seeds one entity per record (ERP customers; HR employees). Each later system is
matched against the entities built so far: overrides first, then each rule in order. A record links to
an entity only when the link is mutual and unique: the record has exactly one candidate entity and
that entity has exactly one candidate record of this system. Every other candidate set is ambiguous:
those records and entities go to review with their candidates and are not tried by weaker rules.
Records left over start entities of their own, so e.g. a CRM owner can still meet an ERP rep who is
not in HR. Pure Python on small inputs, sorted everywhere: the same input gives the same output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from etl.identity.overrides import OverrideSet, Ref
from etl.identity.rules import OVERRIDE, Rule


@dataclass(frozen=True)
class Record:
    system: str
    id: str
    name: str | None = None
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # rule name -> comparison keys
    review_if_unmatched: bool = True  # False: being alone is normal (most HR staff are not reps)
    note: str = ""  # why it matters when it stays unmatched, e.g. "erp_customer_code X is not an ERP id"

    @property
    def ref(self) -> Ref:
        return (self.system, self.id)


@dataclass(frozen=True)
class Link:
    record: Ref
    to: Ref
    rule: str
    confidence: float
    matched_on: str


@dataclass(frozen=True)
class Review:
    system: str
    record_id: str
    name: str | None
    reason: str  # unmatched | ambiguous
    rule: str | None
    candidates: tuple[Ref, ...]
    detail: str


@dataclass
class Entity:
    members: list[Record]
    keys: dict[str, set[str]] = field(default_factory=dict)

    @property
    def anchor(self) -> Record:
        return self.members[0]

    def add(self, record: Record) -> None:
        self.members.append(record)
        for rule, values in record.keys.items():
            self.keys.setdefault(rule, set()).update(values)


@dataclass
class Result:
    entities: list[Entity]
    links: dict[Ref, Link]  # joined record -> the link it joined by
    review: list[Review]

    def member_link(self, entity: Entity, record: Record) -> Link | None:
        """The link shown for a member: its own, or for the anchor the strongest link into it."""
        if record.ref in self.links:
            return self.links[record.ref]
        joined = [self.links[m.ref] for m in entity.members if m.ref in self.links]
        if not joined:
            return None
        best = max(link.confidence for link in joined)
        return next(link for link in joined if link.confidence == best)


def _label(ref: Ref) -> str:
    return f"{ref[0]}:{ref[1]}"


def _new_entity(record: Record) -> Entity:
    entity = Entity(members=[])
    entity.add(record)
    return entity


class _Pass:
    """Matching one system's records against the entities built so far."""

    def __init__(self, records: Sequence[Record], entities: list[Entity], overrides: OverrideSet,
                 result: Result):
        self.records = {r.ref: r for r in sorted(records, key=lambda r: r.id)}
        self.open_entities = set(range(len(entities)))  # not linked nor found ambiguous in this pass
        self.entities, self.overrides, self.result = entities, overrides, result
        self.member_of = {m.ref: i for i, e in enumerate(entities) for m in e.members}

    def forbidden(self, record: Record, entity: Entity) -> bool:
        return any(self.overrides.forbids(record.ref, m.ref) for m in entity.members)

    def link(self, record: Record, index: int, rule: Rule, to: Ref, matched_on: str) -> None:
        self.entities[index].add(record)
        self.result.links[record.ref] = Link(record.ref, to, rule.name, rule.confidence, matched_on)
        del self.records[record.ref]
        self.open_entities.discard(index)

    def ambiguous(self, system: str, rid: str, name: str | None, rule: str, candidates: Iterable[Ref],
                  detail: str) -> None:
        self.result.review.append(Review(system, rid, name, "ambiguous", rule,
                                         tuple(sorted(candidates)), detail))

    def apply_pins(self) -> None:
        for ref, record in list(self.records.items()):
            pins = self.overrides.pins.get(ref, [])
            targets = {(self.member_of[d.other(ref)], d) for d in pins if d.other(ref) in self.member_of}
            indexes = sorted({i for i, _ in targets})
            if not indexes:
                continue
            if len(indexes) > 1 or indexes[0] not in self.open_entities:
                where = ", ".join(sorted(d.where for _, d in targets))
                anchors = [self.entities[i].anchor.ref for i in indexes]
                self.ambiguous(*ref, record.name, OVERRIDE.name, anchors,
                               f"pinned ({where}) to records of different entities, or to an entity "
                               "another record is pinned to: fix the overrides")
                del self.records[ref]
                continue
            index, decision = next(iter(sorted(targets, key=lambda t: t[1].where)))
            if self.forbidden(record, self.entities[index]):
                self.ambiguous(*ref, record.name, OVERRIDE.name, [self.entities[index].anchor.ref],
                               f"pinned ({decision.where}) to an entity holding a record it is "
                               "forbidden with")
                del self.records[ref]
                continue
            self.link(record, index, OVERRIDE, decision.other(ref), f"{decision.where}: {decision.reason}")

    def apply_rule(self, rule: Rule) -> None:
        index: dict[str, list[int]] = {}
        for i in sorted(self.open_entities):
            for key in self.entities[i].keys.get(rule.name, ()):
                index.setdefault(key, []).append(i)
        of_record: dict[Ref, list[int]] = {}
        of_entity: dict[int, list[Ref]] = {}
        for ref, record in self.records.items():
            found = sorted({i for k in record.keys.get(rule.name, ()) for i in index.get(k, ())})
            found = [i for i in found if not self.forbidden(record, self.entities[i])]
            if found:
                of_record[ref] = found
                for i in found:
                    of_entity.setdefault(i, []).append(ref)
        for ref, found in of_record.items():
            if len(found) == 1 and of_entity[found[0]] == [ref]:
                record, entity = self.records[ref], self.entities[found[0]]
                shared = sorted(set(record.keys[rule.name]) & entity.keys[rule.name])[0]
                to = next(m.ref for m in entity.members if shared in m.keys.get(rule.name, ()))
                self.link(record, found[0], rule, to, f"{rule.name}={shared}")
        self._send_doubts_to_review(rule, of_record, of_entity)

    def _send_doubts_to_review(self, rule: Rule, of_record: dict[Ref, list[int]],
                               of_entity: dict[int, list[Ref]]) -> None:
        for ref, found in of_record.items():
            if ref not in self.records:
                continue  # linked
            record = self.records.pop(ref)
            anchors = [self.entities[i].anchor.ref for i in found]
            rivals = sorted({r for i in found for r in of_entity[i] if r != ref})
            why = f"{len(found)} candidates share its {rule.name}" if len(found) > 1 else \
                f"its only candidate is also claimed by {', '.join(_label(r) for r in rivals)}"
            self.ambiguous(*ref, record.name, rule.name, anchors, why)
        for i, refs in of_entity.items():
            if i not in self.open_entities:
                continue  # linked
            anchor = self.entities[i].anchor
            why = f"{len(refs)} {refs[0][0]} records share its {rule.name}" if len(refs) > 1 else \
                f"its only candidate {_label(refs[0])} has {len(of_record[refs[0]])} candidates"
            self.ambiguous(*anchor.ref, anchor.name, rule.name, refs, why)
            self.open_entities.discard(i)


def link_records(systems: Sequence[tuple[str, Sequence[Record]]], rules: Sequence[Rule],
                 overrides: OverrideSet) -> Result:
    """Entities across `systems` (in order; the first seeds the entities), by overrides then `rules`."""
    result = Result(entities=[], links={}, review=[])
    for n, (_, records) in enumerate(systems):
        if n == 0:
            result.entities.extend(_new_entity(r) for r in sorted(records, key=lambda r: r.id))
            continue
        step = _Pass(records, result.entities, overrides, result)
        step.apply_pins()
        for rule in rules:
            step.apply_rule(rule)
        doubted = {(r.system, r.record_id) for r in result.review}
        result.entities.extend(_new_entity(r) for r in step.records.values())
        result.entities.extend(_new_entity(r) for r in sorted(records, key=lambda r: r.id)
                               if r.ref in doubted and r.ref not in step.member_of)
    _review_unmatched(result)
    _review_stale_overrides(result, {r.ref for _, records in systems for r in records}, overrides)
    result.review.sort(key=lambda r: (r.system, r.record_id, r.reason, r.rule or ""))
    return result


def _review_unmatched(result: Result) -> None:
    doubted = {(r.system, r.record_id) for r in result.review}
    for entity in result.entities:
        record = entity.anchor
        if len(entity.members) == 1 and record.review_if_unmatched and record.ref not in doubted:
            detail = record.note or "no rule found a counterpart in the other systems"
            result.review.append(Review(record.system, record.id, record.name, "unmatched", None, (), detail))


def _review_stale_overrides(result: Result, known: set[Ref], overrides: OverrideSet) -> None:
    """A decision naming a record no system holds (deleted, merged, mistyped) does nothing: say so."""
    for decision in overrides.decisions:
        for ref in sorted(decision.refs - known):
            result.review.append(Review(*ref, None, "stale_override", OVERRIDE.name, (decision.other(ref),),
                                        f"{decision.where}: {decision.action} names {_label(ref)}, "
                                        "which no source table holds; fix or remove the entry"))
