"""Which action applies to an element, and why.

``HeaderProfile.decide`` is the single place that answers "what happens to this element",
for the anonymiser and for ``dicomscrub describe`` alike. In order:

1. elements that always go (digital signatures, original attributes, icon images, padding);
2. override rules from a profile file (first match wins);
3. keyed pseudonyms: patient name and ID, accession number and other request identifiers;
4. overlay and curve groups (removed with their data), private elements (removed, or kept
   when Retain Safe Private knows them to be safe);
5. Table E.1-1: a selected option's column where it has one (K before C), else the basic
   profile, compound codes resolved by the attribute's type in the object's IOD;
6. elements the table does not list, by VR: UIDs remapped, dates shifted, names and free
   text removed (cleaned inside a cleaned sequence, dummied inside a dummied one), short
   text kept unless it holds this file's identifying values.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomscrub.header.iod import is_required, needs_value, required_type
from dicomscrub.header.options import DEFAULT_OPTIONS
from dicomscrub.header.overrides import Rule
from dicomscrub.header.private import (
    PrivateRef,
    is_creator_tag,
    is_private_group,
    shipped_safe_list,
)
from dicomscrub.header.pseudonyms import NEVER_REMAP_KEYWORDS
from dicomscrub.header.table import ProfileRow, ProfileTable, load_table

if TYPE_CHECKING:
    from dicomscrub.config import HeaderConfig


class Action(enum.Enum):
    """What is done to one element."""

    KEEP = "keep"
    REMOVE = "remove"
    EMPTY = "empty"
    DUMMY = "dummy"
    UID = "uid"
    SHIFT = "shift-date"
    PSEUDONYM = "pseudonym"
    PSEUDO_ID = "pseudonymous-id"
    RECURSE = "recurse"
    SCREEN = "keep-unless-identifying"
    CLEAN = "clean"
    REPLACE = "replace"
    REGEX = "regex-replace"
    CREATOR = "private-creator"


class Context(enum.Enum):
    """How elements the table does not list are treated inside a sequence."""

    NORMAL = "normal"
    CLEAN = "clean"  # inside a sequence the C action keeps: free text cleaned
    DUMMY = "dummy"  # inside a sequence the D action keeps: free text and names dummied


@dataclass(frozen=True, slots=True)
class Decision:
    """An action, the rule that chose it (for audit and ``describe``), and its arguments."""

    action: Action
    reason: str
    context: Context = Context.NORMAL  # for RECURSE: how the items are treated
    value: str = ""  # REPLACE
    pattern: re.Pattern[str] | None = None  # REGEX
    replacement: str = ""  # REGEX


#: Elements replaced by the keyed patient pseudonym.
PSEUDONYM_KEYWORDS = frozenset({"PatientName", "PatientID"})

#: Identifiers replaced by a keyed token (deterministic per key; empty stays empty).
PSEUDO_ID_KEYWORDS = frozenset(
    {
        "AccessionNumber",
        "StudyID",
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "PerformedProcedureStepID",
        "AdmissionID",
        "PlacerOrderNumberImagingServiceRequest",
        "FillerOrderNumberImagingServiceRequest",
    }
)

#: Always removed, whatever the options and overrides say.
ALWAYS_REMOVE = {
    0xFFFCFFFC: "data set trailing padding",
    0xFFFAFFFA: "digital signatures (no longer valid)",
    0x4FFE0001: "MAC parameters (signatures no longer valid)",
    0x04000561: "original attributes (hold the values replaced)",
    0x04000500: "encrypted attributes (may hold the original values)",
    0x00880200: "icon image (a thumbnail of the unredacted pixels)",
}

_DATE_VRS = frozenset({"DA", "DT"})
_DATE_OPTIONS = frozenset({"retain_long_full_dates", "retain_long_modified_dates"})
#: A C in these columns (or a bare C) shifts a date.
_SHIFTING = frozenset({"retain_long_modified_dates", ""})
#: Coded and numeric values a C keeps (nothing free-form in them to clean).
_CODED_VRS = frozenset({"CS", "AE", "AS", "IS", "DS", "US", "SS", "UL", "SL", "FL", "FD",
                        "UV", "SV"})  # fmt: skip
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
#: Short text kept when not in the table, unless it holds this file's identifying values.
_SCREENED_VRS = frozenset({"LO", "SH", "UC", "AE"})
#: Free text and unknown values not in the table: removed, there is no telling what is in them.
_FREE_TEXT_VRS = frozenset({"ST", "LT", "UT", "UN", "UR"})
#: Text dummied inside a sequence the D action keeps (coded CS values stay).
_DUMMIED_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN", "AE"})
#: Identifying attributes that Table E.1-1 does not list.
EXTRA_REMOVE_KEYWORDS = frozenset(
    {
        "PatientBirthDateInAlternativeCalendar",
        "PatientDeathDateInAlternativeCalendar",
        "PatientAlternativeCalendar",
        "UniversalEntityID",
        "LocalNamespaceEntityID",
        "PotentialReasonsForProcedure",
        "HPGLDocument",  # a drawing that can hold any text
    }
)


def _is_overlay_or_curve(tag: int) -> bool:
    group = tag >> 16
    return group & 0xFF01 in (0x6000, 0x5000)


class HeaderProfile:
    """The basic profile plus options and override rules, resolved per element."""

    def __init__(
        self,
        options: tuple[str, ...] = DEFAULT_OPTIONS,
        rules: tuple[Rule, ...] = (),
        safe_private: frozenset[PrivateRef] = frozenset(),
        table: ProfileTable | None = None,
    ) -> None:
        self.table = table or load_table()
        self.options = options
        self.rules = rules
        self._safe_private = safe_private
        self._path_rules = any(r.path for r in rules)
        self._cache: dict[tuple[object, ...], Decision] = {}

    @classmethod
    def from_config(cls, config: HeaderConfig) -> HeaderProfile:
        """The profile a run's header settings describe (shipped safe-private list)."""
        return cls(options=config.options, rules=config.rules, safe_private=shipped_safe_list())

    @property
    def edition(self) -> str:
        return self.table.edition

    def decide(
        self,
        tag: int,
        keyword: str,
        vr: str,
        *,
        path: tuple[str, ...] = (),
        sop_class: str = "",
        context: Context = Context.NORMAL,
        private: PrivateRef | None = None,
        declared_safe: frozenset[PrivateRef] = frozenset(),
        safe_blocks: frozenset[tuple[str, int]] = frozenset(),
    ) -> Decision:
        """The action for one element.

        ``path`` is the element's own path (enclosing sequences, then itself, written as
        keywords or tags); ``private`` its creator and offset when it is private;
        ``declared_safe``/``safe_blocks`` what the instance's (0008,0300) declares safe.
        """
        if is_private_group(tag) and not is_creator_tag(tag):
            return self._decide_private(tag, vr, path, private, declared_safe, safe_blocks)
        key = (tag, vr, sop_class, context, path if self._path_rules else None)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._decide(tag, keyword, vr, path, sop_class, context)
        return cached

    def _decide(
        self,
        tag: int,
        keyword: str,
        vr: str,
        path: tuple[str, ...],
        sop_class: str,
        context: Context,
    ) -> Decision:
        if tag in ALWAYS_REMOVE:
            return Decision(Action.REMOVE, f"always removed: {ALWAYS_REMOVE[tag]}")
        if tag >> 16 == 0x0002:
            return Decision(Action.REMOVE, "file meta group inside the data set: not allowed")
        if is_creator_tag(tag):
            return Decision(Action.CREATOR, "private creator: kept only while its block keeps "
                            "an element")  # fmt: skip
        rule = self._rule_for(tag, path, None)
        if rule is not None:
            if rule.action is Action.KEEP and vr == "SQ":  # kept, items still de-identified
                return Decision(Action.RECURSE, rule.reason, context)
            return rule
        if keyword in PSEUDONYM_KEYWORDS:
            return Decision(Action.PSEUDONYM, "keyed patient pseudonym")
        if keyword in PSEUDO_ID_KEYWORDS:
            return Decision(Action.PSEUDO_ID, "identifier replaced by a keyed token")
        if _is_overlay_or_curve(tag):
            return Decision(Action.REMOVE, "overlay/curve group: removed with its data")
        if keyword in EXTRA_REMOVE_KEYWORDS:
            return Decision(Action.REMOVE, "identifying, not listed in Table E.1-1")
        row = self.table.lookup(tag)
        if row is not None:
            return self._from_row(row, keyword, vr, sop_class)
        return self._not_in_table(keyword, vr, context)

    def _rule_for(
        self, tag: int, path: tuple[str, ...], private: PrivateRef | None
    ) -> Decision | None:
        for rule in self.rules:
            if rule.matches(tag, path, private):
                return _from_rule(rule)
        return None

    def _decide_private(
        self,
        tag: int,
        vr: str,
        path: tuple[str, ...],
        private: PrivateRef | None,
        declared_safe: frozenset[PrivateRef],
        safe_blocks: frozenset[tuple[str, int]],
    ) -> Decision:
        keep = Action.RECURSE if vr == "SQ" else Action.KEEP
        rule = self._rule_for(tag, path, private)
        if rule is not None:
            return Decision(keep, rule.reason) if rule.action is Action.KEEP else rule
        if "retain_safe_private" in self.options and private is not None:
            if private in self._safe_private:
                return Decision(keep, f"Retain Safe Private: {private} on the safe list")
            if private in declared_safe or (private.creator, private.group) in safe_blocks:
                return Decision(keep, f"Retain Safe Private: {private} declared safe (0008,0300)")
        return Decision(Action.REMOVE, "private element: Table E.1-1 private row, X")

    def _from_row(self, row: ProfileRow, keyword: str, vr: str, sop_class: str) -> Decision:
        # A temporal row is decided by the date options alone: a real date kept by another
        # option (device identity, say) beside shifted ones would give the offset away.
        temporal = any(row.option_action(o) is not None for o in _DATE_OPTIONS)
        candidates = [o for o in self.options if not temporal or o in _DATE_OPTIONS]
        picked: tuple[str, str] | None = None
        for option in candidates:
            code = row.option_action(option)
            if code == "K":
                picked = (option, code)
                break
            if code is not None and picked is None:
                picked = (option, code)
        if picked is not None:
            option, code = picked
            where = f"Table E.1-1 {row.tag} option {option}: {code}"
            if code == "K":
                return Decision(Action.RECURSE if vr == "SQ" else Action.KEEP, where)
            cleaned = _clean_decision(vr, option)
            if cleaned is not None:
                return Decision(cleaned.action, where, cleaned.context)
            where += f" (cannot clean a {vr} value: basic profile {row.basic})"
            return self._basic(row, keyword, vr, sop_class, where)
        return self._basic(row, keyword, vr, sop_class, "")

    def _basic(
        self, row: ProfileRow, keyword: str, vr: str, sop_class: str, where: str
    ) -> Decision:
        code = row.basic
        where = where or f"Table E.1-1 {row.tag} basic profile: {code}"
        if "/" in code:
            kind = required_type(keyword, sop_class)
            return _compound(code, vr, kind, f"{where}, type {kind} here")
        return _simple(code, vr, where)

    def _not_in_table(self, keyword: str, vr: str, context: Context) -> Decision:
        if vr == "SQ":
            return Decision(Action.RECURSE, "not in table: items de-identified", context)
        if vr == "UI":
            if keyword.endswith("ClassUID") or keyword in NEVER_REMAP_KEYWORDS:
                return Decision(Action.KEEP, "not in table: class/syntax UID, not an instance")
            if "retain_uids" in self.options:
                return Decision(Action.KEEP, "not in table: UID kept (retain_uids)")
            return Decision(Action.UID, "not in table: instance UID remapped")
        if vr in _DATE_VRS:
            return self._date_not_in_table()
        if context is Context.CLEAN and vr in _TEXT_VRS:
            return Decision(Action.CLEAN, "not in table, inside a cleaned sequence: cleaned")
        if context is Context.DUMMY and vr in _DUMMIED_VRS:
            return Decision(Action.DUMMY, "not in table, inside a dummied sequence: dummy value")
        if vr == "PN":
            return Decision(Action.REMOVE, "not in table: person name removed")
        if vr in _FREE_TEXT_VRS or not keyword:
            return Decision(Action.REMOVE, "not in table: free text or unknown element removed")
        if vr in _SCREENED_VRS:
            return Decision(Action.SCREEN, "not in table: kept unless it holds identifying values")
        return Decision(Action.KEEP, "not in table")

    def _date_not_in_table(self) -> Decision:
        if "retain_long_full_dates" in self.options:
            return Decision(Action.KEEP, "not in table: date kept (retain_long_full_dates)")
        if "retain_long_modified_dates" in self.options:
            return Decision(Action.SHIFT, "not in table: date shifted per patient")
        return Decision(Action.REMOVE, "not in table: date removed (no date option)")


def _from_rule(rule: Rule) -> Decision:
    action = {
        "keep": Action.KEEP,
        "remove": Action.REMOVE,
        "empty": Action.EMPTY,
        "clean": Action.CLEAN,
        "replace": Action.REPLACE,
        "regex": Action.REGEX,
    }[rule.action]
    return Decision(
        action, rule.label, value=rule.value, pattern=rule.pattern, replacement=rule.replacement
    )


def _simple(code: str, vr: str, where: str) -> Decision:
    """A single action code of the basic profile."""
    if code == "K":
        return Decision(Action.RECURSE if vr == "SQ" else Action.KEEP, where)
    if code == "X":
        return Decision(Action.REMOVE, where)
    if code == "Z":
        return Decision(Action.EMPTY, where)
    if code == "D":
        if vr == "SQ":  # a dummy sequence: the items stay, every element in them dummied
            return Decision(Action.RECURSE, where, Context.DUMMY)
        return Decision(Action.DUMMY, where)
    if code == "U":
        if vr == "SQ":
            return Decision(Action.RECURSE, where)
        return Decision(Action.UID if vr == "UI" else Action.EMPTY, where)
    if code == "C":
        cleaned = _clean_decision(vr, "")
        if cleaned is None:
            return Decision(Action.REMOVE, where)
        return Decision(cleaned.action, where, cleaned.context)
    raise ValueError(f"unknown profile action code {code!r}")


def _compound(code: str, vr: str, kind: str, where: str) -> Decision:
    """``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*`` for an attribute of type ``kind``.

    Optional (Type 3): X where offered, else Z. Type 2: Z where offered, else D. Type 1: D
    where offered, else Z. ``X/Z/U*`` keeps the sequence with its UIDs remapped, so that
    references stay consistent with the objects they point to.
    """
    parts = code.split("/")
    if "U*" in parts:
        return Decision(Action.RECURSE, f"{where}: kept, UIDs inside remapped")
    if not is_required(kind):
        return _simple("X" if "X" in parts else "Z", vr, where)
    if needs_value(kind) and "D" in parts:
        return _simple("D", vr, where)
    return _simple("Z" if "Z" in parts else "D", vr, where)


def _clean_decision(vr: str, option: str) -> Decision | None:
    """The C action, by VR: dates shifted (under modified dates), times kept (a time moves
    with its date by whole days), text cleaned, sequences kept with their items cleaned.
    ``None`` when a value of this VR cannot be cleaned (binary timestamps, dates under a
    non-date option): the caller falls back to the basic profile."""
    if vr in _DATE_VRS:
        return Decision(Action.SHIFT, "") if option in _SHIFTING else None
    if vr == "TM":
        return Decision(Action.KEEP, "") if option in _DATE_OPTIONS else None
    if vr == "SQ":
        return Decision(Action.RECURSE, "", Context.CLEAN)
    if vr in _TEXT_VRS or vr in _CODED_VRS:
        return Decision(Action.CLEAN if vr in _TEXT_VRS else Action.KEEP, "")
    return None
