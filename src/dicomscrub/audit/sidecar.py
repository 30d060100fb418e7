"""The per-file ``<relative path>_bboxes.json`` sidecar in the private headers folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dicomscrub.io.write import make_private_dirs, write_json
from dicomscrub.models import BBox

#: The sidecar's keys, exactly (the original tool's format).
SIDECAR_KEYS = (
    "source",
    "output",
    "num_frames",
    "boxes",
    "leaf_union",
    "leaf_key",
    "transducer_signature",
    "phi",
)


def sidecar_path(headers: Path, relpath: str) -> Path:
    """``<headers>/<relative path>_bboxes.json``."""
    return headers / f"{relpath}_bboxes.json"


def write_sidecar(
    headers: Path,
    relpath: str,
    *,
    source: Path,
    output: Path,
    num_frames: int,
    boxes: Sequence[BBox],
    leaf_union: bool,
    leaf_key: str,
    signature: str,
    phi: dict[str, str],
) -> Path:
    """Write one sidecar (owner-only) and return its path."""
    path = sidecar_path(headers, relpath)
    data: dict[str, Any] = {
        "source": str(source),
        "output": str(output),
        "num_frames": num_frames,
        "boxes": [b.to_json() for b in boxes],
        "leaf_union": leaf_union,
        "leaf_key": leaf_key,
        "transducer_signature": signature,
        "phi": phi,
    }
    make_private_dirs(headers, path.parent)
    write_json(path, data, folder_exists=True)
    return path
