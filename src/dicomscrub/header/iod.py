"""Whether an attribute is required in an object's IOD, for resolving compound action codes.

Table E.1-1 gives some attributes a compound code (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``):
remove them where the IOD makes them optional (Type 3), keep them empty where they are
Type 2, give them a dummy value where they are Type 1. The committed data
(``data/required_types.json``) lists those types per family of SOP classes.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

OPTIONAL = "3"


@functools.cache
def _data() -> tuple[dict[str, frozenset[str]], dict[str, dict[str, str]]]:
    raw = json.loads(
        resources.files("dicomscrub.header")
        .joinpath("data/required_types.json")
        .read_text(encoding="utf-8")
    )
    families: dict[str, set[str]] = {}
    for name, members in raw["families"].items():
        families[name] = {m for m in members if not m.startswith("@")}
    for name, members in raw["families"].items():
        for member in members:
            if member.startswith("@"):
                families[name] |= families[member[1:]]
    return {k: frozenset(v) for k, v in families.items()}, raw["attributes"]


@functools.cache
def required_type(keyword: str, sop_class: str) -> str:
    """The attribute's type (``1``, ``1C``, ``2``, ``2C`` or ``3``) in objects of
    ``sop_class``; conditional types count as required when the attribute is present."""
    families, attributes = _data()
    by_family = attributes.get(keyword)
    if not by_family:
        return OPTIONAL
    for family, kind in by_family.items():
        if family != "*" and sop_class in families.get(family, frozenset()):
            return str(kind)
    return str(by_family.get("*", OPTIONAL))


def is_required(kind: str) -> bool:
    return kind != OPTIONAL


def needs_value(kind: str) -> bool:
    """Type 1 (or 1C when present): an empty value would be invalid."""
    return kind in ("1", "1C")
