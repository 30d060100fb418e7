"""``dicomscrub describe FILE``: the action each element would get, and why.

Nothing is written and no value is printed: one line per element with its path, tag,
keyword and VR, the action, and the rule that chose it (table row and column, option,
override, or the tool's own rule for elements the table does not list).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TextIO

from pydicom.dataset import Dataset

from dicomscrub.config import HeaderConfig
from dicomscrub.header.clean import holds_phi
from dicomscrub.header.overrides import path_component
from dicomscrub.header.phi import header_terms
from dicomscrub.header.private import PrivateRef, creators_of, declared_safe, private_ref
from dicomscrub.header.profile import Action, Context, Decision, HeaderProfile
from dicomscrub.io.read import read_header
from dicomscrub.models import PIXEL_DATA_TAGS
from dicomscrub.terms import holds_term, identifying_terms


@dataclass(frozen=True, slots=True)
class PlannedElement:
    """One element and what the profile decides for it."""

    path: tuple[str, ...]
    tag: int
    keyword: str
    vr: str
    decision: Decision
    outcome: str  # for actions that depend on the value: what would actually happen


def plan(ds: Dataset, profile: HeaderProfile) -> list[PlannedElement]:
    """Every element of ``ds`` (at every depth, file meta excluded) with its decision."""
    declared, blocks = declared_safe(ds)
    terms = identifying_terms(*header_terms(ds))
    sop_class = str(ds.get("SOPClassUID", "") or "")
    out: list[PlannedElement] = []
    _plan(ds, profile, sop_class, declared, blocks, terms, (), Context.NORMAL, out)
    return out


def _plan(
    ds: Dataset,
    profile: HeaderProfile,
    sop_class: str,
    declared: frozenset[PrivateRef],
    blocks: frozenset[tuple[str, int]],
    terms: frozenset[str],
    prefix: tuple[str, ...],
    context: Context,
    out: list[PlannedElement],
) -> None:
    creators = creators_of(ds)
    for tag in list(ds.keys()):
        tag_int = int(tag)
        if tag_int in PIXEL_DATA_TAGS:
            continue
        try:
            elem = ds[tag]
        except Exception:
            broken = Decision(Action.REMOVE, "cannot be decoded")
            path = (*prefix, path_component(tag_int, ""))
            out.append(PlannedElement(path, tag_int, "", "??", broken, ""))
            continue
        path = (*prefix, path_component(tag_int, elem.keyword))
        decision = profile.decide(
            tag_int, elem.keyword, elem.VR, path=path, sop_class=sop_class, context=context,
            private=private_ref(creators, tag_int), declared_safe=declared, safe_blocks=blocks,
        )  # fmt: skip
        outcome = ""
        if decision.action in (Action.SCREEN, Action.CLEAN):
            values = elem.value if elem.VM > 1 else [elem.value]
            texts = [str(v) for v in values if v not in (None, "")]
            if decision.action is Action.SCREEN:
                hit = any(holds_term(t, terms) for t in texts)
                outcome = "dummy value: holds an identifying value" if hit else "kept"
            else:
                hit = any(holds_phi(t, terms) for t in texts)
                outcome = "identifying text taken out" if hit else "no change"
        out.append(PlannedElement(path, tag_int, elem.keyword, elem.VR, decision, outcome))
        if decision.action is Action.RECURSE:
            for item in elem.value or ():
                _plan(item, profile, sop_class, declared, blocks, terms, path,
                      decision.context, out)  # fmt: skip


def print_plan(rows: list[PlannedElement], stream: TextIO) -> None:
    """A fixed-width table; nested paths are indented by depth."""
    stream.write(f"{'element':52} {'tag':11} {'VR':2}  {'action':24} why\n")
    for row in rows:
        name = "  " * (len(row.path) - 1) + row.path[-1]
        tag = f"({row.tag >> 16:04X},{row.tag & 0xFFFF:04X})"
        action = row.decision.action.value
        why = row.decision.reason + (f" -> {row.outcome}" if row.outcome else "")
        stream.write(f"{name[:52]:52} {tag:11} {row.vr:2}  {action:24} {why}\n")


def describe_command(args: argparse.Namespace, header: HeaderConfig) -> int:
    """Entry point of ``dicomscrub describe``."""
    from dicomscrub.batch.worker import quiet_third_party

    quiet_third_party()
    ds = read_header(args.file)
    profile = HeaderProfile.from_config(header)
    rows = plan(ds, profile)
    # The file's name is not printed: names can hold PHI.
    print(f"# {len(rows)} elements; options: {', '.join(header.options)}")
    print(f"# profile: {profile.edition}; {len(header.rules)} override rules")
    print_plan(rows, sys.stdout)
    return 0
