"""What a rerun may skip: files finished by an earlier run with the same settings.

``<headers>/.resume.json`` maps each finished file's relative path to a fingerprint of the
settings that shaped its output (header and pixel settings, release folder, and a keyed
check value of the project key). A file is skipped only when its fingerprint matches, its
sidecar exists and its output is still in this run's release folder. The index is written
by the main process after the run, so a run that is killed redoes its files next time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from dicomscrub.config import DeidConfig
from dicomscrub.header.keys import ProjectKey
from dicomscrub.io.write import write_json

INDEX_NAME = ".resume.json"


def fingerprint(config: DeidConfig, key: ProjectKey) -> str:
    """A digest of everything that changes a file's output (never the key itself)."""
    settings = {
        "header": dataclasses.asdict(config.header) | {"key_file": None},
        "pixels": dataclasses.asdict(config.pixels),
        "output": str(config.output.output.resolve()),
        "key": key.digest("fingerprint", "dicomscrub").hex(),
    }
    blob = json.dumps(settings, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def load_index(headers: Path) -> dict[str, str]:
    """The fingerprints of finished files (empty when there is no usable index)."""
    try:
        data = json.loads((headers / INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_index(
    headers: Path, index: dict[str, str], done: Iterable[str], failed: Iterable[str], digest: str
) -> None:
    """Record ``done`` files with fingerprint ``digest``; forget ``failed`` ones."""
    merged = dict(index)
    for relpath in failed:
        merged.pop(relpath, None)
    for relpath in done:
        merged[relpath] = digest
    write_json(headers / INDEX_NAME, dict(sorted(merged.items())))
