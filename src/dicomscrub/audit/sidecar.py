"""The per-file ``<relative path>_bboxes.json`` sidecar in the private headers folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dicomscrub.io.write import make_private_dirs, write_json
from dicomscrub.models import BBox, BoxOrigin

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
    origins: Sequence[Sequence[BoxOrigin]] = (),
) -> Path:
    """Write one sidecar (owner-only) and return its path.

    ``origins`` says, box by box, why each is there: each box of the sidecar gets an
    ``origins`` list beside its ``left``, ``top``, ``width`` and ``height`` (what found
    it, the area searched, the rule that fired, its confidence, the frame, and whether
    it was found on this file or on another file of its group); never the text read.
    """
    path = sidecar_path(headers, relpath)
    data: dict[str, Any] = {
        "source": str(source),
        "output": str(output),
        "num_frames": num_frames,
        "boxes": [
            {**box.to_json(), "origins": [o.to_json() for o in _nth(origins, i)]}
            for i, box in enumerate(boxes)
        ],
        "leaf_union": leaf_union,
        "leaf_key": leaf_key,
        "transducer_signature": signature,
        "phi": phi,
    }
    make_private_dirs(headers, path.parent)
    write_json(path, data, folder_exists=True)
    return path


def _nth(origins: Sequence[Sequence[BoxOrigin]], index: int) -> Sequence[BoxOrigin]:
    return origins[index] if index < len(origins) else ()
