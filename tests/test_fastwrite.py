"""The fast writer produces files pydicom reads back exactly as pydicom's own writer's."""

from __future__ import annotations

import warnings
from copy import deepcopy
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, validate_file_meta
from pydicom.tag import BaseTag

from dicomscrub.config import HeaderConfig
from dicomscrub.header.anonymize import HeaderAnonymizer
from dicomscrub.header.dictionary import text_value
from dicomscrub.header.keys import ProjectKey
from dicomscrub.header.profile import HeaderProfile
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.io.fastwrite import Unsupported, _meta_bytes, save_fast, usual_meta_bytes
from dicomscrub.io.read import read_header
from factories import canary_dataset, enhanced_dataset, write_dataset


def anonymizer() -> HeaderAnonymizer:
    config = HeaderConfig()
    key = ProjectKey(b"fastwrite-meta-key-0123456789abcd")
    pseudo = Pseudonymizer(key, "anon", (config.date_shift_min_days, config.date_shift_max_days))
    return HeaderAnonymizer(HeaderProfile.from_config(config), pseudo)


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


# The usual file meta group, worked out without pydicom's setters and validation, is the
# one those calls and the general path make (every case either matches or falls back).


def _meta_the_long_way(ds: Dataset) -> bytes:
    copy = deepcopy(ds)
    meta = copy.file_meta
    if "SOPClassUID" in copy:
        meta.MediaStorageSOPClassUID = text_value(copy, 0x00080016)
    instance = text_value(copy, 0x00080018)
    if instance:
        meta.MediaStorageSOPInstanceUID = instance
    validate_file_meta(meta, enforce_standard=True)
    encoded = _meta_bytes(meta)
    assert encoded is not None
    return encoded


def _anonymized(ds: Dataset, tmp_path: Path) -> Dataset:
    path = write_dataset(ds, tmp_path / "in.dcm")
    out = read_header(path)
    anonymizer().anonymize(out, pixels_cleaned=False)
    return out


def _meta_cases(tmp_path: Path) -> list[tuple[str, Dataset]]:
    cases = [("anonymized canary", _anonymized(canary_dataset().dataset, tmp_path))]
    for implicit in (False, True):
        cases.append((f"enhanced {implicit}", _anonymized(enhanced_dataset(3, implicit=implicit),
                                                         tmp_path)))  # fmt: skip
    base = cases[1][1]
    no_version = deepcopy(base)
    del no_version.file_meta[0x00020001]
    empty_version = deepcopy(base)
    empty_version.file_meta[0x00020001] = DataElement(0x00020001, "OB", b"")
    no_class = deepcopy(base)
    del no_class.file_meta[0x00020012]
    empty_class = deepcopy(base)
    empty_class.file_meta.ImplementationClassUID = ""
    no_name = deepcopy(base)
    del no_name.file_meta[0x00020013]
    raw_name = deepcopy(base)
    raw_name.file_meta[0x00020013] = RawDataElement(
        BaseTag(0x00020013), "SH", 5, b"ODD 1", 0, False, True
    )
    padded_class = deepcopy(base)
    padded_class.file_meta[0x00020012] = RawDataElement(
        BaseTag(0x00020012), "UI", 8, b"1.2.3 \x00\x00", 0, False, True
    )
    cases += [("no version", no_version), ("empty version", empty_version),
              ("no implementation class", no_class), ("empty class", empty_class),
              ("no implementation name", no_name), ("raw odd name", raw_name),
              ("padded class", padded_class)]  # fmt: skip
    return cases


def test_the_usual_file_meta_is_the_one_pydicom_s_calls_make(tmp_path: Path) -> None:
    for name, ds in _meta_cases(tmp_path):
        fast = usual_meta_bytes(ds, ds.file_meta)
        assert fast is not None, name
        assert fast == _meta_the_long_way(ds), name


def test_an_unusual_file_meta_takes_the_long_way(tmp_path: Path) -> None:
    base = _anonymized(enhanced_dataset(3), tmp_path)
    extra = deepcopy(base)
    extra.file_meta.SourceApplicationEntityTitle = "SCANNER"  # not kept by the anonymiser
    no_syntax = deepcopy(base)
    del no_syntax.file_meta[0x00020010]
    no_instance = deepcopy(base)
    no_instance.SOPInstanceUID = ""
    odd_version = deepcopy(base)
    odd_version.file_meta[0x00020001] = RawDataElement(
        BaseTag(0x00020001), "UN", 2, b"\x00\x01", 0, False, True
    )
    for ds in (canary_dataset().dataset, extra, no_syntax, no_instance, odd_version):
        assert usual_meta_bytes(ds, ds.file_meta) is None


@pytest.mark.realdata
def test_real_files_get_the_file_meta_pydicom_s_calls_make(realdata: Path) -> None:
    compared = 0
    for path in sorted(realdata.rglob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = read_header(path)
                anonymizer().anonymize(ds, pixels_cleaned=False)
                expected = _meta_the_long_way(ds)
            except Exception:
                continue  # not a file the fast writer writes
            fast = usual_meta_bytes(ds, ds.file_meta)
        if fast is not None:
            assert fast == expected, path.name
            compared += 1
    assert compared > 100
