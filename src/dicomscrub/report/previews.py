"""Preview thumbnails kept on disk in the private headers folder, one file per input.

Workers write them; the report reads them one page at a time, so a run over many files
never holds every preview in memory. They show original pixels: private, owner-only.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dicomscrub.io.write import atomic_write, make_private_dirs
from dicomscrub.models import Thumbnail

PREVIEW_DIR = ".previews"


def preview_path(headers: Path, relpath: str) -> Path:
    """``<headers>/.previews/<relative path>.npz``."""
    return headers / PREVIEW_DIR / f"{relpath}.npz"


def save_previews(headers: Path, relpath: str, before: Thumbnail, after: Thumbnail) -> str:
    """Store both thumbnails (compressed) and return the file's path."""
    path = preview_path(headers, relpath)
    make_private_dirs(headers, path.parent)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        before=_array(before),
        after=_array(after),
        scales=np.array([before.scale, after.scale]),
    )

    def write(tmp: Path) -> None:
        tmp.write_bytes(buffer.getvalue())

    atomic_write(path, write, mode=0o600)
    return str(path)


def load_previews(path: str) -> tuple[Thumbnail, Thumbnail] | None:
    """The two thumbnails stored at ``path``, or ``None`` when it is missing or damaged."""
    try:
        with np.load(path) as data:
            before, after, scales = data["before"], data["after"], data["scales"]
    except (OSError, ValueError, KeyError):
        return None
    return _thumb(before, float(scales[0])), _thumb(after, float(scales[1]))


def _array(thumb: Thumbnail) -> np.ndarray:
    return np.frombuffer(thumb.rgb, dtype=np.uint8).reshape(thumb.height, thumb.width, 3)


def _thumb(arr: np.ndarray, scale: float) -> Thumbnail:
    rgb = np.ascontiguousarray(arr, dtype=np.uint8)
    return Thumbnail(width=rgb.shape[1], height=rgb.shape[0], rgb=rgb.tobytes(), scale=scale)
