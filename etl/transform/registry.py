"""Derived columns: the closed vocabulary (concat, coalesce) plus named, registered Python functions.

A mapping names a function (`derive: {function: email_domain, args: [email]}`); it never carries code.
New functions are added here with `@register`, reviewed and tested like any other code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from etl.transform.normalise import fold_accents_array

if TYPE_CHECKING:  # annotations only: the schema itself resolves function names through this module
    from etl.config.schema import Derive

Function = Callable[..., pa.Array]
FUNCTIONS: dict[str, Function] = {}

LEGAL_SUFFIXES = (
    r"\b(incorporated|inc|corp|corporation|co|company|ltd|limited|llc|gmbh|ag|sa|s a|plc|bv|nv|srl|spa"
    r"|oy|ab|kg|ltda|sarl|pty|kk|as|sas)\b"
)


def register(name: str) -> Callable[[Function], Function]:
    def wrap(fn: Function) -> Function:
        FUNCTIONS[name] = fn
        return fn

    return wrap


def _operand(table: pa.Table, token: str) -> pa.Array | str:
    return token[1:] if token.startswith("=") else pc.cast(table[token], pa.string())


def derive_column(table: pa.Table, spec: Derive) -> pa.Array:
    if spec.concat is not None:
        parts = [_operand(table, t) for t in spec.concat]
        joined = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
        if isinstance(joined, pa.Scalar):  # only literals ('=USD'): the same text on every row
            joined = pa.repeat(joined, table.num_rows)
        joined = pc.utf8_trim_whitespace(joined)
        return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)
    if spec.coalesce is not None:
        return pc.coalesce(*[table[c] for c in spec.coalesce])
    fn = resolve(spec.function or "", len(spec.args), spec.kwargs)
    return fn(*[table[a].combine_chunks() for a in spec.args], **spec.kwargs)


def resolve(name: str, nargs: int, kwargs: dict) -> Function:
    """A built-in function, else one an installed plug-in provides (entry point group etl.transforms);
    checked against the call the mapping makes, so a wrong name or keyword fails when it is loaded."""
    from etl.plugin_registry import PluginError, check_arguments, transform

    fn = FUNCTIONS.get(name)
    if fn is None:
        try:
            fn = transform(name)
        except PluginError as exc:
            raise ValueError(f"derive function {name!r} is not registered; built-in: "
                             f"{', '.join(sorted(FUNCTIONS))}; {exc}") from None
    check_arguments(fn, f"derive function {name!r}", nargs, kwargs)
    return fn


@register("email_domain")
def email_domain(email: pa.Array) -> pa.Array:
    """The part after '@', lower-cased; null when there is none."""
    domain = pc.struct_field(pc.extract_regex(pc.utf8_lower(email), r"@(?P<d>[^@\s]+)$"), "d")
    return pc.if_else(pc.equal(domain, ""), pa.scalar(None, pa.string()), domain)


@register("company_key")
def company_key(name: pa.Array) -> pa.Array:
    """Company name without case, accents, punctuation and legal suffixes: 'ACME, Inc.' = 'Acme Inc'."""
    s = pc.utf8_lower(fold_accents_array(pc.cast(name, pa.string())))
    s = pc.replace_substring_regex(s, r"[^\w\s]", " ")
    s = pc.replace_substring_regex(s, LEGAL_SUFFIXES, " ")
    s = pc.utf8_trim_whitespace(pc.replace_substring_regex(s, r"\s+", " "))
    return pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)


@register("domain_of_url")
def domain_of_url(url: pa.Array) -> pa.Array:
    s = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(url, pa.string())))
    s = pc.replace_substring_regex(s, r"^[a-z]+://", "")
    s = pc.replace_substring_regex(s, r"^www\.", "")
    return pc.replace_substring_regex(s, r"[/?#].*$", "")


@register("multiply")
def multiply(a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.multiply(pc.cast(a, pa.float64()), pc.cast(b, pa.float64()))


@register("person_email")
def person_email(first_name: pa.Array, last_name: pa.Array, domain: str = "") -> pa.Array:
    """'Jose Manuel' 'Urman' -> jose.manuel.urman@<domain>: the address other systems (OA) know a person by.

    Lower case; every run of characters other than a-z and 0-9 becomes one dot. Null when a name is missing.
    """
    if not domain:
        raise ValueError("derive function person_email needs kwargs: {domain: <mail domain>}")
    first, last = pc.cast(first_name, pa.string()), pc.cast(last_name, pa.string())
    names = pc.binary_join_element_wise(first, last, " ")
    local = pc.replace_substring_regex(pc.utf8_lower(names), r"[^a-z0-9]+", ".")
    local = pc.utf8_trim(local, characters=".")
    email = pc.binary_join_element_wise(local, pa.scalar(f"@{domain}"), "")
    return pc.if_else(pc.equal(local, ""), pa.scalar(None, pa.string()), email)




@register("equals")
def equals(arr: pa.Array, value=None) -> pa.Array:
    return pc.equal(arr, pa.scalar(value).cast(arr.type))


@register("is_in")
def is_in(arr: pa.Array, values: list | None = None) -> pa.Array:
    """True when the value is one of `values` (e.g. the closed stages); null stays null."""
    if not values:
        raise ValueError("derive function is_in needs kwargs: {values: [...]}")
    return pc.is_in(arr, value_set=pa.array(values).cast(arr.type))


@register("format_date")
def format_date(value: pa.Array, format: str = "%Y-%m-%d") -> pa.Array:  # noqa: A002 - the YAML's word
    """A date or timestamp as text in a target system's own format, e.g. '%Y%m%d' or '%d.%m.%Y'."""
    if pa.types.is_date(value.type):
        value = pc.cast(value, pa.timestamp("s"))
    return pc.strftime(value, format)


@register("minor_units")
def minor_units(amount: pa.Array, digits: int = 2) -> pa.Array:
    """An amount as an integer count of minor units (cents): 12.345 -> 1235 (half away from zero)."""
    scaled = pc.multiply(pc.cast(amount, pa.decimal128(24, 6)), pa.scalar(10 ** digits, pa.decimal128(12, 0)))
    return pc.cast(pc.round(scaled, 0, round_mode="half_towards_infinity"), pa.int64())
