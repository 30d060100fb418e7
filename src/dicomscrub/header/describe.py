"""``dicomscrub describe FILE``: the action each element would get, and why.

Nothing is written and no value is printed: one line per element with its path, tag,
keyword and VR, the action, and the rule that chose it (table row and column, option,
override, or the tool's own rule for elements the table does not list).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import TextIO

from pydicom.dataset import Dataset

from dicomscrub.config import HeaderConfig
from dicomscrub.header.anonymize import ElementDecision, Scope, decisions, unchanged_by
from dicomscrub.header.profile import Action, Context, HeaderProfile
from dicomscrub.io.read import read_header


@dataclass(frozen=True, slots=True)
class PlannedElement:
    """One element's decision, and for actions that depend on the value, what would
    actually happen to it."""

    element: ElementDecision
    outcome: str


def plan(ds: Dataset, profile: HeaderProfile) -> list[PlannedElement]:
    """Every element of ``ds`` (at every depth, file meta excluded) with its decision,
    decided exactly as the anonymiser decides it."""
    out: list[PlannedElement] = []
    _plan(ds, profile, Scope.of(ds), (), Context.NORMAL, out)
    return out


def _plan(
    ds: Dataset,
    profile: HeaderProfile,
    scope: Scope,
    prefix: tuple[str, ...],
    context: Context,
    out: list[PlannedElement],
) -> None:
    for item in decisions(profile, ds, scope, prefix, context):
        action = item.decision.action
        outcome = ""
        if action in (Action.SCREEN, Action.CLEAN):
            same = unchanged_by(action, ds, item.tag, scope)
            if action is Action.SCREEN:
                outcome = "kept" if same else "dummy value: holds an identifying value"
            else:
                outcome = "no change" if same else "identifying text taken out"
        out.append(PlannedElement(item, outcome))
        if action is Action.RECURSE:
            for child in ds[item.tag].value or ():
                _plan(child, profile, scope, item.path, item.decision.context, out)


def print_plan(rows: list[PlannedElement], stream: TextIO) -> None:
    """A fixed-width table; nested paths are indented by depth."""
    stream.write(f"{'element':52} {'tag':11} {'VR':2}  {'action':24} why\n")
    for row in rows:
        item = row.element
        name = "  " * (len(item.path) - 1) + item.path[-1]
        tag = f"({item.tag >> 16:04X},{item.tag & 0xFFFF:04X})"
        action = item.decision.action.value
        why = item.decision.reason + (f" -> {row.outcome}" if row.outcome else "")
        stream.write(f"{name[:52]:52} {tag:11} {item.vr:2}  {action:24} {why}\n")


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
    try:
        print_plan(rows, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # piped into head or less and closed: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
