"""The C (clean) action on free text: take identifying pieces out, keep the rest.

A descriptor such as ``CT ABDOMEN f/u Mr Doe 12/03/1965`` keeps its clinical words and
loses the patient's name, identifiers, any date, phone number or e-mail address, and any
long number. What is removed is replaced by :data:`MARK`. Nothing here logs text.
"""

from __future__ import annotations

import functools
import re

from dicomscrub.terms import normalize, term_kinds

MARK = "***"

_MONTH_WORDS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
        r"\bhttps?://\S+",  # URL
        # numeric dates in any order and separator, ISO, and 8-digit compact forms
        r"(?<!\d)\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}(?!\d)",
        r"(?<!\d)(?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)",
        # dates with month names: 12 March 1965, 12-MAR-65, March 12, 1965, Mar 1965
        rf"\b\d{{1,2}}(?:st|nd|rd|th)?[\s\-/.]*{_MONTH_WORDS}\b[\s\-/.,]*(?:\d{{4}}|\d{{2}})?\b",
        rf"\b{_MONTH_WORDS}\b[\s\-/.]*\d{{1,2}}(?:st|nd|rd|th)?(?:[\s,]+\d{{2,4}})?\b",
        rf"\b{_MONTH_WORDS}\b[\s\-/.,]*(?:19|20)\d{{2}}\b",
        r"\b\d{6,}\b",  # long numbers: record numbers and other identifiers
    )
)
#: Phone numbers: optional +country, groups of digits with separators; 7+ digits in all.
_PHONE = re.compile(r"(?<![\w])\+?\(?\d{1,4}\)?(?:[\s.\-]?\(?\d{2,4}\)?){2,5}(?![\w])")
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits of any script
_PHONE_DIGITS = 7
#: Consecutive words joined when looking for a multi-part identifier (``AB 12 34``).
_MAX_SPAN = 4


def _is_phone_like(match: re.Match[str]) -> bool:
    return sum(c.isdigit() for c in match.group(0)) >= _PHONE_DIGITS


def clean_text(text: str, terms: frozenset[str]) -> str:
    """``text`` with the file's identifying ``terms`` and generic PHI patterns replaced.

    ``terms`` are normalised (upper-case letters and digits): name parts, identifiers
    and their digit runs, date spellings (see :func:`dicomscrub.terms.identifying_terms`).
    """
    if not text:
        return text
    return _remove_terms(_without_patterns(text), terms)


@functools.lru_cache(maxsize=2048)
def _without_patterns(text: str) -> str:
    """``text`` with the generic PHI patterns replaced: the same for every file, and the
    same descriptions come back in every file of a series."""
    out = text
    for pattern in _PATTERNS:
        out = pattern.sub(MARK, out)
    return _PHONE.sub(lambda m: MARK if _is_phone_like(m) else m.group(0), out)


@functools.lru_cache(maxsize=2048)
def _words(text: str) -> tuple[tuple[int, int, str], ...]:
    """``(start, end, normalised)`` of each word (letters and digits) of ``text``."""
    return tuple((m.start(), m.end(), normalize(m.group(0))) for m in _TOKEN.finditer(text))


def _remove_terms(text: str, terms: frozenset[str]) -> str:
    if not terms:
        return text
    words = _words(text)
    digit_terms = term_kinds(terms).digits
    normal = [w[2] for w in words]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        hit = 0
        # Longest run of consecutive words that together spell one term.
        for width in range(min(_MAX_SPAN, len(words) - i), 0, -1):
            joined = "".join(normal[i : i + width])
            if joined in terms and (width == 1 or len(joined) >= 4):
                hit = width
                break
        if hit == 0:
            token = normal[i]
            if any(t in token for t in digit_terms):
                hit = 1
        if hit:
            spans.append((words[i][0], words[i + hit - 1][1]))
            i += hit
        else:
            i += 1
    for start, end in reversed(spans):
        text = text[:start] + MARK + text[end:]
    return text
