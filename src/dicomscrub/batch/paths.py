"""Release-folder paths: the input tree mirrored, minus PHI in file and folder names."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.pixels.phi_policy import PhiMatcher
from dicomscrub.terms import path_holds_term

#: A UID-like name: four or more dot-separated numbers (three would also be a date).
_UID_RE = re.compile(r"^\d+(\.\d+){3,}$")
#: Patterns that rename a component whatever the header says (ID-like tokens alone do
#: not: IM0001 is a common file name).
_PATTERN_RULES = frozenset({"date", "phone"})
_PATTERNS = PhiMatcher(frozenset())


def flagged_components(relpath: str, matcher: PhiMatcher) -> tuple[int, ...]:
    """Indices of ``relpath`` components that hold this file's PHI or a date/phone number.

    Names and IDs match as whole words (``DOE_JANE``, ``DoeJane``, ``MRN123`` in
    ``scan-MRN123``) or, from five characters on, anywhere in the name; short name
    parts do not rename ``pylibjpeg-data`` because a patient is called ``JPEG``.
    """
    flagged = []
    for index, part in enumerate(PurePosixPath(relpath).parts):
        stem = _stem(part)
        if path_holds_term(stem, matcher.terms) or _pattern_rule(stem):
            flagged.append(index)
    return tuple(flagged)


# Both depend on the name alone, and folder names come back for every file in them.


@functools.lru_cache(maxsize=4096)
def _stem(part: str) -> str:
    return part.rsplit(".", 1)[0] if "." in part and not _UID_RE.match(part) else part


@functools.lru_cache(maxsize=4096)
def _pattern_rule(stem: str) -> bool:
    """True when a date or phone pattern renames a path component (its stem, or a piece
    of it between punctuation) whatever the header says."""
    pieces = [stem, *(p for p in re.split(r"[^0-9A-Za-z]+", stem) if p)]
    return any(_PATTERNS.word_rule(p) in _PATTERN_RULES for p in pieces)


def generic_flags(relpath: str) -> set[tuple[str, ...]]:
    """Prefixes to rename when the file's header is unknown: dates and phone numbers only."""
    return set(prefixes_of(relpath, flagged_components(relpath, _PATTERNS)))


def release_relpath(
    relpath: str, flagged_prefixes: set[tuple[str, ...]], pseudo: Pseudonymizer
) -> str:
    """The output relative path: flagged components become keyed tokens, UIDs are remapped.

    ``flagged_prefixes`` holds path prefixes (tuples of components) that any file flagged,
    so every file under a flagged folder lands in the same renamed folder.
    """
    parts = PurePosixPath(relpath).parts
    out: list[str] = []
    for index, part in enumerate(parts):
        prefix = parts[: index + 1]
        is_file = index == len(parts) - 1
        stem, suffix = _split(part) if is_file else (part, "")
        if _UID_RE.match(stem) and len(stem) <= 64:
            out.append(pseudo.uid(stem) + suffix)
        elif prefix in flagged_prefixes:
            out.append(f"{pseudo.prefix}_{pseudo.token('path', part)}{suffix}")
        else:
            out.append(part)
    return PurePosixPath(*out).as_posix()


def prefixes_of(relpath: str, indices: Sequence[int]) -> Iterable[tuple[str, ...]]:
    """The path prefixes ending at each flagged index."""
    parts = PurePosixPath(relpath).parts
    for index in indices:
        yield parts[: index + 1]


def _split(name: str) -> tuple[str, str]:
    if _UID_RE.match(name):
        return name, ""
    if "." in name:
        stem, ext = name.rsplit(".", 1)
        if ext.isalnum() and len(ext) <= 5 and not ext.isdigit():
            return stem, "." + ext
    return name, ""
