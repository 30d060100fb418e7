"""Which action applies to an element, and why.

The basic profile column of Table E.1-1 is the base; selected options override it; a few
tool-level rules (keyed patient pseudonyms, VR-based safety nets for elements the table
does not list) come last. ``HeaderProfile.decide`` is the single place that answers
"what happens to this element", for the anonymiser and for ``describe`` alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dicomscrub.header.table import ProfileTable, load_table


class Action(enum.Enum):
    """What is done to one element."""

    KEEP = "keep"
    REMOVE = "remove"
    EMPTY = "empty"
    DUMMY = "dummy"
    UID = "uid"
    SHIFT = "shift-date"
    PSEUDONYM = "pseudonym"
    RECURSE = "recurse"
    SCREEN = "keep-unless-identifying"


@dataclass(frozen=True, slots=True)
class Decision:
    """An action and the rule that chose it (for audit and ``describe``)."""

    action: Action
    reason: str


#: Options on by default in this release (the rest arrive with the full-profile work).
DEFAULT_OPTIONS = ("retain_long_modified_dates",)

#: Elements replaced by the keyed patient pseudonym rather than emptied.
PSEUDONYM_KEYWORDS = frozenset({"PatientName", "PatientID"})

_DATE_VRS = frozenset({"DA", "DT"})
#: Short text kept when not in the table, unless it holds this file's identifying values.
_SCREENED_VRS = frozenset({"LO", "SH", "UC", "AE"})
#: Free text and unknown values not in the table: removed, there is no telling what is in them.
_FREE_TEXT_VRS = frozenset({"ST", "LT", "UT", "UN"})
#: Identifying attributes that Table E.1-1 does not list.
EXTRA_REMOVE_KEYWORDS = frozenset(
    {
        "PatientBirthDateInAlternativeCalendar",
        "PatientDeathDateInAlternativeCalendar",
        "PatientAlternativeCalendar",
        "UniversalEntityID",
        "LocalNamespaceEntityID",
        "PotentialReasonsForProcedure",
    }
)


def _from_code(code: str, vr: str) -> Action:
    """Resolve a table action code (including compound codes) for an element of ``vr``.

    Compound codes say the choice depends on the attribute's type in the IOD; without the
    IOD at hand we pick the choice that keeps the element present (Z or D) so required
    attributes survive, and prefer D (a dummy value) where an empty value could be invalid.
    """
    code = code.strip()
    if code == "K":
        return Action.KEEP
    if code == "X":
        return Action.REMOVE
    if code in ("Z", "X/Z"):
        return Action.EMPTY
    if code in ("D", "X/D", "X/Z/D", "Z/D"):
        return Action.DUMMY
    if code in ("U", "X/Z/U*"):
        # On a sequence, U* means: keep it, with the UIDs inside remapped.
        return Action.UID if vr == "UI" else Action.RECURSE if vr == "SQ" else Action.EMPTY
    if code == "C":
        return Action.SHIFT if vr in _DATE_VRS else Action.KEEP
    raise ValueError(f"unknown profile action code {code!r}")


class HeaderProfile:
    """The basic profile plus a set of options, resolved per element."""

    def __init__(
        self, options: tuple[str, ...] = DEFAULT_OPTIONS, table: ProfileTable | None = None
    ) -> None:
        self.table = table or load_table()
        self.options = options

    @property
    def edition(self) -> str:
        return self.table.edition

    def decide(self, tag: int, keyword: str, vr: str) -> Decision:
        """The action for one element (identified by tag, keyword and VR)."""
        if keyword in PSEUDONYM_KEYWORDS:
            return Decision(Action.PSEUDONYM, "keyed patient pseudonym")
        if tag >> 16 == 0x0002:
            return Decision(Action.KEEP, "file meta (rebuilt on write)")
        if (tag >> 16) & 0xFF01 == 0x6000:
            return Decision(Action.REMOVE, "overlay group: removed with its overlay data")
        if keyword in EXTRA_REMOVE_KEYWORDS:
            return Decision(Action.REMOVE, "identifying, not listed in Table E.1-1")
        row = self.table.lookup(tag)
        if row is not None:
            for option in self.options:
                code = row.option_action(option)
                if code is not None:
                    action = _from_code(code, vr)
                    if action is Action.KEEP and vr == "SQ":
                        action = Action.RECURSE
                    return Decision(action, f"Table E.1-1 {row.tag} option {option}: {code}")
            action = _from_code(row.basic, vr)
            if action is Action.KEEP and vr == "SQ":
                action = Action.RECURSE
            return Decision(action, f"Table E.1-1 {row.tag} basic profile: {row.basic}")
        if vr == "SQ":
            return Decision(Action.RECURSE, "not in table: items de-identified")
        if vr == "UI":
            return Decision(Action.UID, "not in table: instance UID remapped")
        if vr in _DATE_VRS:
            return Decision(Action.SHIFT, "not in table: date shifted per patient")
        if vr == "PN":
            return Decision(Action.REMOVE, "not in table: person name removed")
        if vr in _FREE_TEXT_VRS or not keyword:
            return Decision(Action.REMOVE, "not in table: free text or unknown element removed")
        if vr in _SCREENED_VRS:
            return Decision(Action.SCREEN, "not in table: kept unless it holds identifying values")
        return Decision(Action.KEEP, "not in table")
