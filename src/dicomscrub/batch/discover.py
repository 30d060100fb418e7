"""Find the DICOM files under the input path, by content."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dicomscrub.io.read import FileKind, sniff


@dataclass(frozen=True, slots=True)
class Discovery:
    """What was found: DICOM files (path, relative path) and counts of what was skipped."""

    files: tuple[tuple[Path, str], ...]
    dicomdirs: int
    not_dicom: int
    skipped: tuple[tuple[str, str], ...] = ()  # (relative path, why), for the run record


def discover(root: Path, recursive: bool = True) -> Discovery:
    """Walk ``root`` (a file or folder) in sorted order and classify each file."""
    paths = [root] if root.is_file() else _walk(root, recursive)
    found: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    dicomdirs = not_dicom = 0
    for path in paths:
        relpath = path.name if path == root else path.relative_to(root).as_posix()
        kind = sniff(path)
        if kind == FileKind.DICOM:
            found.append((path, relpath))
        elif kind == FileKind.DICOMDIR:
            dicomdirs += 1
            skipped.append((relpath, "DICOMDIR (a media directory, not an image)"))
        else:
            not_dicom += 1
            skipped.append((relpath, "not recognised as DICOM"))
    return Discovery(tuple(found), dicomdirs, not_dicom, tuple(skipped))


def _walk(root: Path, recursive: bool) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    out.append(path)
    return out
