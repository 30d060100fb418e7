"""Write outputs atomically: a temporary name in the target folder, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from dicomscrub.errors import ConfigError, DicomScrubError, OutputError
from dicomscrub.io.fastwrite import Unsupported, save_fast, write_fast
from dicomscrub.models import PIXEL_DATA_TAGS


def prepare_folders(release: Path, private: Path) -> None:
    """Create the release and private folders, make the private one owner-only, and check
    that both can be written, before any work is done."""
    for folder, is_private in ((release, False), (private, True)):
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700 if is_private else 0o777)
            if is_private:
                os.chmod(folder, 0o700)
            fd, probe = tempfile.mkstemp(prefix=".dicomscrub-write-check.", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise ConfigError(f"cannot write to {folder} ({exc.strerror or exc})") from exc


def make_private_dirs(root: Path, leaf: Path) -> None:
    """Create ``leaf`` and the folders between it and ``root`` owner-only (0700)."""
    if leaf.is_dir():
        return  # and so is root, above it: nothing to create (one stat, not a mkdir)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = leaf
    missing = []
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True, mode=0o700)


def default_file_mode() -> int:
    """What ``open()`` would give a new file under the current umask (release outputs)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, writer: Callable[[Path], None], *, mode: int | None = None) -> None:
    """Call ``writer(tmp)`` then rename ``tmp`` to ``path``; nothing is left on failure.

    The temporary file is created owner-only; ``mode`` is applied just before the rename
    (``None`` keeps it owner-only). Our own errors pass through unchanged; any other is
    wrapped in :class:`OutputError` naming only its type, since library messages may
    quote element values.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        writer(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, DicomScrubError):
            raise
        raise OutputError(f"could not write the output ({type(exc).__name__})") from exc


_SWAP_VRS = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def to_little_endian(ds: Dataset) -> None:
    """Re-label a big endian dataset as Explicit VR Little Endian (retired syntax out).

    Decoded values are written in the new byte order by pydicom; raw binary words other
    than pixel data (already converted by the pixel step) are byte-swapped here.
    """
    _swap_words(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True, ds.original_character_set)


def _swap_words(ds: Dataset) -> None:
    for tag in list(ds.keys()):
        if int(tag) in PIXEL_DATA_TAGS:
            continue  # written by the pixel step
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value or ():
                _swap_words(item)
            continue
        size = _SWAP_VRS.get(elem.VR)
        if size and isinstance(elem.value, bytes):
            elem.value = np.frombuffer(elem.value, dtype=f">u{size}").astype(f"<u{size}").tobytes()


def save_dataset(ds: Dataset, path: Path) -> None:
    """Save with preamble and file meta; objects without SOP Class/Instance UIDs (which
    cannot get a complete file meta header) are saved as they came."""
    try:
        save_fast(ds, path)
        return
    except (Unsupported, ValueError, TypeError, KeyError):
        pass  # pydicom's general writer below handles (or rejects) what the fast one cannot
    try:
        ds.save_as(path, enforce_file_format=True)
    except (ValueError, AttributeError):
        ds.save_as(path, enforce_file_format=False)


def write_header(ds: Dataset, fh: BinaryIO) -> bool:
    """Write ``ds`` into ``fh`` (a new file open for writing) with the fast writer; False
    when it cannot, and the file must then be written again by :func:`save_dataset`."""
    try:
        write_fast(ds, fh)
    except (Unsupported, ValueError, TypeError, KeyError):
        return False
    return True


def write_dataset(path: Path, ds: Dataset) -> None:
    """Write ``ds`` as a DICOM file atomically."""
    atomic_write(path, lambda tmp: save_dataset(ds, tmp), mode=default_file_mode())


def write_json(
    path: Path, data: dict[str, Any], *, mode: int = 0o600, folder_exists: bool = False
) -> None:
    """Write JSON atomically with owner-only permissions (``folder_exists``: the caller
    has just made sure of the folder)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, folder_exists=folder_exists)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int, folder_exists: bool = False) -> None:
    """:func:`atomic_write` of bytes already in memory: written through the temporary
    file's own descriptor (a sidecar per file: no second open of the temporary name)."""
    if not folder_exists:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.chmod(name, mode)
        os.replace(name, path)
    except Exception as exc:
        Path(name).unlink(missing_ok=True)
        raise OutputError(f"could not write the output ({type(exc).__name__})") from exc
