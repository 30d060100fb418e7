"""Identifying terms of one file, normalised for matching in text (headers, OCR, paths).

Shared by the header screen and the pixel PHI policy, so both look for the same things.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def normalize(text: str) -> str:
    """Upper-case letters and digits only, in any script, accents taken off
    (``Müller`` -> ``MULLER``; Cyrillic and other letters are kept as letters)."""
    decomposed = unicodedata.normalize("NFKD", text).upper()
    return "".join(c for c in decomposed if c.isalnum())


def date_variants(yyyymmdd: str) -> set[str]:
    """Normalised spellings of one date: numeric orders, 2-digit years, month names."""
    if len(yyyymmdd) < 8 or not yyyymmdd[:8].isdigit():
        return set()
    y, m, d = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:8]
    if not 1 <= int(m) <= 12:
        return set()
    mon = MONTHS[int(m) - 1]
    out = set()
    for mm in {m, m.lstrip("0")}:
        for dd in {d, d.lstrip("0")}:
            for yy in (y, y[2:]):
                out |= {y + mm + dd, mm + dd + yy, dd + mm + yy, dd + mon + yy, mon + dd + yy}
    out.add(y + mon + d)
    return {v for v in out if len(v) >= 5}


def identifying_terms(
    names: Iterable[str], identifiers: Iterable[str], dates: Iterable[str]
) -> frozenset[str]:
    """Name parts (2+ characters), identifiers whole, as digits and by part, date spellings."""
    terms: set[str] = set()
    for name in names:
        parts = [normalize(p) for p in re.split(r"[\^\s,=\-'’]+", name)]
        parts = [p for p in parts if p]
        terms.update(p for p in parts if len(p) >= 2)
        if len(parts) >= 2:  # written run together: DOEJANE, JANEDOE, DOEJANEQ
            terms.update({parts[0] + parts[1], parts[1] + parts[0], "".join(parts)})
    for value in identifiers:
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
    for value in set(dates):
        terms |= date_variants(value)
    return frozenset(terms)


def holds_term(text: str, terms: frozenset[str]) -> bool:
    """True when ``text`` holds a term: names (letters) as whole words of 3+ characters,
    identifiers and dates (with digits, 6+ characters) anywhere, whatever the separators.

    Whole words keep ``PRIMARY`` from matching a patient called ``MARY``.
    """
    token = normalize(text)
    if not token:
        return False
    split = [normalize(w) for w in re.split(r"[\W_]+", text) if w]
    words = set(split)
    words.update(a + b for a, b in itertools.pairwise(split))  # "O Brien", "Mc Kay"
    return any(
        (len(t) >= 3 and t in words) or (len(t) >= 6 and t in token and any(c.isdigit() for c in t))
        for t in terms
    )


def path_holds_term(name: str, terms: frozenset[str]) -> bool:
    """True when a file or folder name holds a term: as a whole word (split on
    punctuation and camelCase) from three characters, anywhere from five."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)
    words += re.split(r"[\W_]+", name)
    normal = {normalize(w) for w in words if w}
    token = normalize(name)
    return any((len(t) >= 3 and t in normal) or (len(t) >= 5 and t in token) for t in terms)
