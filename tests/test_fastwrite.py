"""The fast writer produces files pydicom reads back exactly as pydicom's own writer's."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomscrub.io.fastwrite import Unsupported, save_fast
from factories import canary_dataset


def _flat(ds: Dataset, prefix: str = "") -> list[tuple[str, str, object]]:
    """Every element at every depth as (path, VR, value), padding aside."""
    out: list[tuple[str, str, object]] = []
    for elem in ds:
        key = f"{prefix}{elem.tag}"
        if elem.VR == "SQ":
            out.append((key, "SQ", len(elem.value)))
            for n, item in enumerate(elem.value):
                out += _flat(item, f"{key}[{n}].")
            continue
        value = elem.value
        if isinstance(value, bytes):  # odd lengths are padded to even here, not by pydicom
            value = value.rstrip(b"\x00 ")
        out.append((key, str(elem.VR), value if isinstance(value, bytes) else str(value)))
    return out


def _same_as_pydicom(ds: Dataset, again: Dataset, tmp_path: Path) -> bool:
    try:
        save_fast(ds, tmp_path / "fast.dcm")
    except Unsupported:
        return False
    again.save_as(tmp_path / "pydicom.dcm", enforce_file_format=True)
    fast = pydicom.dcmread(tmp_path / "fast.dcm")
    slow = pydicom.dcmread(tmp_path / "pydicom.dcm")
    assert fast.file_meta == slow.file_meta
    assert _flat(fast) == _flat(slow)
    return True


def test_canary_dataset_round_trips(tmp_path: Path) -> None:
    assert _same_as_pydicom(canary_dataset().dataset, canary_dataset().dataset, tmp_path)


@pytest.mark.realdata
def test_real_files_round_trip(tmp_path: Path, realdata: Path) -> None:
    checked = 0
    for path in sorted(realdata.rglob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, defer_size=4096)
                again = pydicom.dcmread(path, defer_size=4096)
                again.save_as(tmp_path / "probe.dcm", enforce_file_format=True)
            except Exception:
                continue  # pydicom itself cannot write it: the fast path is not asked to
            if len(ds) and _same_as_pydicom(ds, again, tmp_path):
                checked += 1
    assert checked >= 100, checked


def test_the_file_meta_group_is_byte_for_byte_pydicom_s(tmp_path: Path) -> None:
    save_fast(canary_dataset().dataset, tmp_path / "fast.dcm")
    canary_dataset().dataset.save_as(tmp_path / "pydicom.dcm", enforce_file_format=True)
    fast, slow = (tmp_path / "fast.dcm").read_bytes(), (tmp_path / "pydicom.dcm").read_bytes()
    meta_end = 144 + int.from_bytes(slow[140:144], "little")  # after (0002,0000)'s value
    assert fast[128:meta_end] == slow[128:meta_end]
