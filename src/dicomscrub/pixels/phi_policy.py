"""Decide which recognised words are PHI.

A line of burned-in text is PHI when any of its words is: a value from the file's own
header (names split into parts, identifiers, dates in common human formats), allowing
one or two misread characters; a date, time, phone number or ID-like token; or a label
that introduces identifying data (``NAME:``, ``ID:``, ``DOB``...). The user's deny-list
words are PHI wherever they appear (misread too, like header values); allow-list words are
never PHI by themselves. Nothing here logs text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dicomscrub.terms import MONTHS, identifying_terms, normalize

if TYPE_CHECKING:
    from dicomscrub.pixels.ocr.base import OcrWord

_MONTHS = MONTHS
_DATE_RE = re.compile(
    r"(?<!\d)(\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}|(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01]))(?!\d)"
)
_MONTH_DATE_RE = re.compile(
    r"\d{1,2}[\-/ .]?("
    + "|".join(_MONTHS)
    + r")[A-Z]*[\-/ .,]?\d{2,4}|("
    + "|".join(_MONTHS)
    + r")[A-Z]*[\-/ .]?\d{1,2}[, ]*\d{4}"
)
#: A date whose month the recogniser misread (``04 SAP 2024``): a day, a word whose
#: first three letters are one letter off a month's, and a year; or the month first.
_MISREAD_MONTH_RE = re.compile(
    r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])[\-/ .]?([A-Z]{3})[A-Z]*[\-/ .,]?(?:19|20)\d{2}(?!\d)"
    r"|(?<![A-Z])([A-Z]{3})[A-Z]*[\-/ .]?(?:0?[1-9]|[12]\d|3[01])[, ]*(?:19|20)\d{2}(?!\d)"
)
_TIME_RE = re.compile(r"(?<!\d)([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?(?!\d)")
#: Two capitalised words joined by a comma, colon or caret: how overlays write names.
_NAME_RE = re.compile(r"\b[A-Z][A-Za-z'\-]{1,}\s*[,:^]\s*[A-Z][A-Za-z'\-]{1,}\b")
_PHONE_RE = re.compile(r"\(?\d{3}\)?[\-. ]?\d{3}[\-. ]\d{4}")
#: A scanner's readout: a name of what it counts or measures, then numbers of at most
#: four digits each, apart (``Frame 123/300``, ``FR 30 Hz``), or a count alone of at
#: most three digits a side (``123/300``; ``03/2019`` may be a month of birth), however
#: the spaces were read. Never an ID, whose digits run on (``MRN 25846520``).
_READOUT_RE = re.compile(
    r"(FRAMES?|FR|IMAGE|IMG|IM|SLICE|SE|SERIES|GAIN|DEPTH|MI|TIS|TIB|TIC|FPS|ZOOM|PWR|POWER"
    r"|WL|WW|KVP?|MAS?)\s*[:#=]?\s*\d{1,4}(\s*[./:,]\s*\d{1,4})*\s*(%|DB|HZ|KHZ|MHZ|CM|MM|FPS)?"
    r"|\d{1,3}\s*/\s*\d{1,3}"
)
#: Labels that introduce identifying data on the same line.
_LABELS = frozenset(
    {"NAME", "PATIENT", "PAT", "PT", "DOB", "BIRTH", "BORN", "MRN", "ID", "PID", "ACC",
     "ACCESSION", "HOSPITAL", "CLINIC", "MEDICAL", "CENTER", "CENTRE", "INSTITUTION",
     "PHYSICIAN", "DR", "REF", "REFERRING", "OPERATOR", "SONOGRAPHER", "TECH", "DATE",
     "HOPITAL", "CLINIQUE", "KLINIK", "KLINIKUM", "OSPEDALE", "UNIVERSITY", "MED", "CTR",
     "HEALTH", "INSTITUTE", "DOCTOR", "AGE", "SEX", "MRS"}
)  # fmt: skip

#: Labels long enough to be told at the start of a word that the recogniser ran
#: together with the next one (``HOPITALCARDIO``).
_LONG_LABELS = tuple(sorted(label for label in _LABELS if len(label) >= 6))


def _is_date(upper: str) -> bool:
    """Whether upper-cased text holds a date, in figures or with a month's name (read
    right, or one letter off)."""
    if _DATE_RE.search(upper) or _MONTH_DATE_RE.search(upper):
        return True
    for found in _MISREAD_MONTH_RE.finditer(upper):
        word = found.group(1) or found.group(2)
        if any(sum(a != b for a, b in zip(word, month, strict=True)) <= 1 for month in _MONTHS):
            return True
    return False


def edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance of ``a`` and ``b`` is ``<= limit`` (banded, early exit)."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        lo = max(1, i - limit)
        hi = min(len(b), i + limit)
        if lo > 1:
            cur[lo - 1] = limit + 1
        for j in range(lo, hi + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]))
        if hi < len(b):
            cur[hi + 1 :] = [limit + 1] * (len(b) - hi)
        if min(cur[lo - 1 : hi + 1]) > limit:
            return False
        prev = cur
    return prev[len(b)] <= limit


def _fuzzy_limit(length: int) -> int:
    return 0 if length < 5 else (1 if length < 9 else 2)


def term_match(token: str, terms: frozenset[str]) -> str | None:
    """How a normalised word matches one of ``terms``: ``"exact"`` (the term, or a
    term of 4+ characters inside it, or the word of 5+ inside a term), ``"fuzzy"`` (one
    or two characters off), or ``None``."""
    if not token:
        return None
    if token in terms:
        return "exact"
    if len(token) >= 4:
        for term in terms:
            if len(term) >= 4 and (term in token or (len(token) >= 5 and token in term)):
                return "exact"
        limit = _fuzzy_limit(len(token))
        if limit:
            for term in terms:
                if len(term) >= 5 and edit_distance_at_most(token, term, limit):
                    return "fuzzy"
    return None


def allow_words(entries: Iterable[str]) -> frozenset[str]:
    """The normalised words of allow-list entries (a phrase allows each of its words)."""
    return frozenset(w for entry in entries for w in map(normalize, entry.split()) if w)


def deny_terms(entries: Iterable[str]) -> frozenset[str]:
    """Normalised deny-list entries (a phrase is matched run together, as OCR reads it)."""
    return frozenset(t for t in map(normalize, entries) if t)


@dataclass(frozen=True, slots=True)
class PhiMatcher:
    """Header-derived terms plus generic PHI patterns, and the user's allow and deny
    lists (normalised, see :func:`allow_words` and :func:`deny_terms`)."""

    terms: frozenset[str]
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    @classmethod
    def from_header(
        cls, names: Iterable[str], identifiers: Iterable[str], dates: Iterable[str]
    ) -> PhiMatcher:
        return cls(identifying_terms(names, identifiers, dates))

    def with_lists(self, allow: Iterable[str], deny: Iterable[str]) -> PhiMatcher:
        """This matcher with the user's allow-list and deny-list entries."""
        return replace(self, allow=allow_words(allow), deny=deny_terms(deny))

    def is_allowed(self, text: str) -> bool:
        """True when ``text`` is an allow-list word (and no deny-list word)."""
        token = normalize(text)
        return bool(token) and token in self.allow and term_match(token, self.deny) is None

    def word_rule(self, text: str) -> str | None:
        """The rule that makes one word PHI, or ``None``."""
        token = normalize(text)
        denied = term_match(token, self.deny) if self.deny else None
        if denied is not None:
            return "deny-list" if denied == "exact" else "deny-list-fuzzy"
        if token and token in self.allow:
            return None
        upper = text.upper()
        if _is_date(upper):
            return "date"
        if _TIME_RE.search(upper):
            return "time"
        if _PHONE_RE.search(upper):
            return "phone"
        if not token:
            return None
        header = term_match(token, self.terms)
        if header is not None:
            return "header-value" if header == "exact" else "header-value-fuzzy"
        if _READOUT_RE.fullmatch(upper.strip()):
            return None  # a scanner's readout such as a frame counter, not an ID
        digits = sum(c.isdigit() for c in token)
        if digits >= 5 or (digits >= 3 and len(token) >= 6 and any(c.isalpha() for c in token)):
            return "id-like"
        if token in _LABELS or token.startswith(_LONG_LABELS):
            return "label"
        return None

    def judge_line(self, words: Sequence[OcrWord]) -> str | None:
        """:meth:`line_rule` of the words' texts (every word counts, however weakly read)."""
        return self.line_rule(w.text for w in words)

    def line_rule(self, words: Iterable[str]) -> str | None:
        """The rule that makes a line PHI: any PHI word, or the line read as one string
        (without its allow-list words; a deny-list phrase anywhere in it)."""
        texts = list(words)
        for text in texts:
            rule = self.word_rule(text)
            if rule is not None:
                return rule
        if self.deny:
            whole = normalize("".join(texts))
            if any(len(term) >= 4 and term in whole for term in self.deny):
                return "deny-list"
        if self.allow:
            texts = [t for t in texts if normalize(t) not in self.allow]
        joined = " ".join(texts)
        if _NAME_RE.search(joined):
            return "name-pattern"
        if len(texts) > 1:
            upper = joined.upper()
            if _is_date(upper):
                return "date"
            if _PHONE_RE.search(upper):
                return "phone"
            if normalize(joined) in self.terms:
                return "header-value"
        return None
