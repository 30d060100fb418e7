"""What a rerun may skip: files finished by an earlier run with the same settings.

``<headers>/.resume.json`` maps each finished file's relative path to a fingerprint of the
settings that shaped its output (header and pixel settings, release folder, and a keyed
check value of the project key), the input's size and modification time, and which
components of its path held PHI (so a rerun renames the same folders for new siblings).
A file is skipped only when all of that still matches, its sidecar exists and its
output is still in this run's release folder. The index is written by the main process
after the run, so a run that is killed redoes its files next time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dicomscrub import __version__
from dicomscrub.config import DeidConfig
from dicomscrub.header.keys import ProjectKey
from dicomscrub.header.table import load_table
from dicomscrub.io.write import write_json

INDEX_NAME = ".resume.json"


def fingerprint(config: DeidConfig, key: ProjectKey) -> str:
    """A digest of everything that changes a file's output (never the key itself)."""
    settings = {
        "header": dataclasses.asdict(config.header) | {"key_file": None},
        "pixels": dataclasses.asdict(config.pixels),
        "output": str(config.output.output.resolve()),
        "key": key.digest("fingerprint", "dicomscrub").hex(),
        # A new release may de-identify differently: its outputs are redone, not skipped.
        "tool": __version__,
        "table": load_table().edition,
    }
    blob = json.dumps(settings, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def entry_for(digest: str, source: Path, flagged: Iterable[int]) -> dict[str, Any]:
    """The index entry of a file finished now."""
    stat = os.stat(source)
    return {
        "fingerprint": digest,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "flagged": sorted(flagged),
    }


def still_valid(entry: dict[str, Any] | None, digest: str, source: Path) -> bool:
    """True when ``entry`` was made with these settings from this very input file."""
    if not entry or entry.get("fingerprint") != digest:
        return False
    try:
        stat = os.stat(source)
    except OSError:
        return False
    return bool(entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns)


def load_index(headers: Path) -> dict[str, dict[str, Any]]:
    """The entries of finished files (empty when there is no usable index)."""
    try:
        data = json.loads((headers / INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def save_index(
    headers: Path,
    index: dict[str, dict[str, Any]],
    finished: dict[str, dict[str, Any]],
    failed: Iterable[str],
) -> None:
    """Record ``finished`` entries and forget ``failed`` files."""
    merged = dict(index)
    for relpath in failed:
        merged.pop(relpath, None)
    merged.update(finished)
    write_json(headers / INDEX_NAME, dict(sorted(merged.items())))
