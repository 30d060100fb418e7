"""Identifying terms of one file, normalised for matching in text (headers, OCR, paths).

Shared by the header screen and the pixel PHI policy, so both look for the same things.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@functools.lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """Upper-case letters and digits only, in any script, accents taken off
    (``Müller`` -> ``MULLER``; Cyrillic and other letters are kept as letters).

    Cached: the same words and values come back in file after file of a study.
    """
    decomposed = unicodedata.normalize("NFKD", text).upper()
    return "".join(c for c in decomposed if c.isalnum())


def date_variants(yyyymmdd: str) -> set[str]:
    """Normalised spellings of one date: numeric orders, 2-digit years, month names."""
    return set(_date_terms(yyyymmdd))


@functools.lru_cache(maxsize=4096)
def _date_terms(yyyymmdd: str) -> frozenset[str]:
    if len(yyyymmdd) < 8 or not yyyymmdd[:8].isdigit():
        return frozenset()
    y, m, d = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:8]
    if not 1 <= int(m) <= 12:
        return frozenset()
    mon = MONTHS[int(m) - 1]
    out = set()
    for mm in {m, m.lstrip("0")}:
        for dd in {d, d.lstrip("0")}:
            for yy in (y, y[2:]):
                out |= {y + mm + dd, mm + dd + yy, dd + mm + yy, dd + mon + yy, mon + dd + yy}
    out.add(y + mon + d)
    return frozenset(v for v in out if len(v) >= 5)


def identifying_terms(
    names: Iterable[str], identifiers: Iterable[str], dates: Iterable[str]
) -> frozenset[str]:
    """Name parts (2+ characters), identifiers whole, as digits and by part, date spellings."""
    terms: set[str] = set()
    for name in set(names):
        terms |= _name_terms(name)
    for value in set(identifiers):
        terms |= _identifier_terms(value)
    for value in set(dates):
        terms |= _date_terms(value)
    return frozenset(terms)


# The terms of one value depend on that value alone, and the values of one patient and
# study come back in every file of a series: each is derived once per process (bounded).


@functools.lru_cache(maxsize=4096)
def _name_terms(name: str) -> frozenset[str]:
    terms: set[str] = set()
    parts = [normalize(p) for p in re.split(r"[\^\s,=\-'’]+", name)]
    parts = [p for p in parts if p]
    terms.update(p for p in parts if len(p) >= 2)
    if len(parts) >= 2:  # written run together: DOEJANE, JANEDOE, DOEJANEQ
        terms.update({parts[0] + parts[1], parts[1] + parts[0], "".join(parts)})
    return frozenset(terms)


@functools.lru_cache(maxsize=4096)
def _identifier_terms(value: str) -> frozenset[str]:
    terms: set[str] = set()
    whole = normalize(value)
    if len(whole) >= 3:
        terms.add(whole)
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 4:
        terms.add(digits)
    for part in re.split(r"[\s,;:/\\\-]+", value):
        token = normalize(part)
        if len(token) >= 4:
            terms.add(token)
    return frozenset(terms)


def holds_term(text: str, terms: frozenset[str]) -> bool:
    """True when ``text`` holds a term: names (letters) as whole words of 3+ characters,
    identifiers and dates (with digits, 6+ characters) anywhere, whatever the separators.

    Whole words keep ``PRIMARY`` from matching a patient called ``MARY``.
    """
    token, words = _text_words(text)
    if not token:
        return False
    kinds = term_kinds(terms)
    return not words.isdisjoint(kinds.whole_words) or any(t in token for t in kinds.anywhere)


@functools.lru_cache(maxsize=2048)
def _text_words(text: str) -> tuple[str, frozenset[str]]:
    """The normalised text and its words (and pairs of words) :func:`holds_term` looks
    terms up in: the same for every file, and the same texts come back in every file."""
    split = [normalize(w) for w in re.split(r"[\W_]+", text) if w]
    words = set(split)
    words.update(a + b for a, b in itertools.pairwise(split))  # "O Brien", "Mc Kay"
    return normalize(text), frozenset(words)


class TermKinds(NamedTuple):
    """A file's terms sorted by how they are looked for (see :func:`term_kinds`)."""

    whole_words: frozenset[str]  # 3+ characters: found as whole words
    anywhere: tuple[str, ...]  # 6+ with a digit: found anywhere in a text
    digits: tuple[str, ...]  # 4+ digits: found inside any word when cleaning
    path_anywhere: tuple[str, ...]  # 5+: found anywhere in a path component


@functools.lru_cache(maxsize=8)
def term_kinds(terms: frozenset[str]) -> TermKinds:
    """The kinds of a file's terms, sorted in one pass once per file's terms."""
    whole_words: list[str] = []
    anywhere: list[str] = []
    digits: list[str] = []
    path_anywhere: list[str] = []
    for term in terms:
        size = len(term)
        if size < 3:
            continue
        whole_words.append(term)
        if size >= 4 and term.isdigit():
            digits.append(term)
        if size >= 5:
            path_anywhere.append(term)
            if size >= 6 and any(map(str.isdigit, term)):
                anywhere.append(term)
    return TermKinds(frozenset(whole_words), tuple(anywhere), tuple(digits),
                     tuple(path_anywhere))  # fmt: skip


def path_holds_term(name: str, terms: frozenset[str]) -> bool:
    """True when a file or folder name holds a term: as a whole word (split on
    punctuation and camelCase) from three characters, anywhere from five."""
    normal, token = _path_words(name)
    kinds = term_kinds(terms)
    return not normal.isdisjoint(kinds.whole_words) or any(t in token for t in kinds.path_anywhere)


@functools.lru_cache(maxsize=4096)
def _path_words(name: str) -> tuple[frozenset[str], str]:
    """The normalised words of a path component and the whole of it normalised (folder
    names come back for every file in them)."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)
    words += re.split(r"[\W_]+", name)
    return frozenset(normalize(w) for w in words if w), normalize(name)
