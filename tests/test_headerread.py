"""The fast header reader leaves exactly the dataset pydicom's ``dcmread`` leaves."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from dicomscrub.io.headerread import read_header_fast
from dicomscrub.io.read import DEFER_SIZE, read_header
from factories import canary_dataset, enhanced_dataset, write_dataset


def _element_state(elem: object) -> tuple[object, ...]:
    if isinstance(elem, RawDataElement):
        return ("raw", tuple(elem))
    return ("decoded", type(elem).__name__, sorted((k, repr(v)) for k, v in vars(elem).items()))


def _state(ds: Dataset) -> tuple[dict[str, Any], list[tuple[object, ...]]]:
    """Every attribute of ``ds`` and every element, in order, as stored (raw or decoded),
    with whether the key is the element's own tag object."""
    attributes = {k: v for k, v in vars(ds).items() if k not in ("_dict", "file_meta")}
    elements = [(int(k), k is v.tag, _element_state(v)) for k, v in ds._dict.items()]
    return attributes, elements


def assert_same_as_pydicom(path: Path) -> None:
    fast = read_header_fast(path, DEFER_SIZE)
    assert fast is not None, "the fast reader fell back"
    reference = dcmread(path, force=True, defer_size=DEFER_SIZE)
    assert type(fast) is type(reference)
    assert type(fast.file_meta) is type(reference.file_meta)
    assert _state(fast) == _state(reference)
    assert _state(fast.file_meta) == _state(reference.file_meta)


def test_the_comparison_sees_a_decoded_element(tmp_path: Path) -> None:
    path = write_dataset(canary_dataset().dataset, tmp_path / "in.dcm")
    fast = read_header_fast(path, DEFER_SIZE)
    reference = dcmread(path, force=True, defer_size=DEFER_SIZE)
    assert fast is not None and _state(fast) == _state(reference)
    _ = reference.PatientName  # decoded in one of them only
    assert _state(fast) != _state(reference)


def test_the_canary_dataset_reads_as_pydicom_reads_it(tmp_path: Path) -> None:
    assert_same_as_pydicom(write_dataset(canary_dataset().dataset, tmp_path / "in.dcm"))


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_an_enhanced_header_reads_as_pydicom_reads_it(tmp_path: Path, implicit: bool) -> None:
    ds = enhanced_dataset(40, implicit=implicit)  # pixel data above the deferral size
    assert_same_as_pydicom(write_dataset(ds, tmp_path / "in.dcm"))


@pytest.mark.parametrize("charset", ["ISO_IR 192", ["ISO 2022 IR 6", "ISO 2022 IR 87"]])
def test_a_character_set_is_read_as_pydicom_reads_it(tmp_path: Path, charset: object) -> None:
    ds = enhanced_dataset(2)
    ds.SpecificCharacterSet = charset
    ds.StudyDescription = "Prüfung"
    assert_same_as_pydicom(write_dataset(ds, tmp_path / "in.dcm"))


def test_encapsulated_pixel_data_is_read_as_pydicom_reads_it(tmp_path: Path) -> None:
    ds = enhanced_dataset(2)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    frames = [bytes(range(256)) * 40, b"\xff\xd8" * 3000]
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 6)  # an element after the pixel data
    assert_same_as_pydicom(write_dataset(ds, tmp_path / "in.dcm"))


def test_long_values_before_the_pixel_data_stay_deferred_as_in_pydicom(tmp_path: Path) -> None:
    ds = enhanced_dataset(2)
    ds.ImageComments = "x" * (DEFER_SIZE + 1)  # deferred
    ds.add_new(0x00091010, "OB", bytes(70_000))  # past the first read of the file
    ds.add_new(0x00090010, "LO", "DICOMSCRUB TEST")
    ds.StudyComments = "y" * DEFER_SIZE  # not deferred
    assert_same_as_pydicom(write_dataset(ds, tmp_path / "in.dcm"))


def _plain(syntax: str) -> Dataset:
    ds = enhanced_dataset(2)
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


@pytest.mark.parametrize(
    "case",
    ["big endian", "deflated", "undefined-length sequence", "no preamble", "implicit VR in"
     " an explicit file"],
)  # fmt: skip
def test_what_the_fast_reader_does_not_read_falls_back_to_pydicom(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "in.dcm"
    if case == "big endian":
        ds = _plain(ExplicitVRBigEndian)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(path, implicit_vr=False, little_endian=False)
    elif case == "deflated":
        ds = _plain(DeflatedExplicitVRLittleEndian)
        ds.save_as(path)
    elif case == "undefined-length sequence":
        ds = enhanced_dataset(2)
        ds["PerFrameFunctionalGroupsSequence"].is_undefined_length = True
        write_dataset(ds, path)
    elif case == "no preamble":
        write_dataset(enhanced_dataset(2), path)
        path.write_bytes(path.read_bytes()[132:])
    else:
        ds = _plain(ExplicitVRLittleEndian)
        ds.save_as(path, implicit_vr=True, little_endian=True, force_encoding=True)
    assert read_header_fast(path, DEFER_SIZE) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom says what it reads differently
        read = read_header(path)  # read by dcmread instead
        reference = dcmread(path, force=True, defer_size=DEFER_SIZE)
    keys = [int(t) for t in reference.keys()]  # noqa: SIM118 - iteration loads values
    assert [int(t) for t in read.keys()] == keys  # noqa: SIM118


def test_a_truncated_file_is_read_as_pydicom_reads_it(tmp_path: Path) -> None:
    path = write_dataset(enhanced_dataset(40), tmp_path / "in.dcm")
    path.write_bytes(path.read_bytes()[:-100])  # pixel data shorter than declared
    assert_same_as_pydicom(path)


def test_a_file_with_no_pixel_data_reads_as_pydicom_reads_it(tmp_path: Path) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.PatientName = "DOE^JANE"
    ds.ContentSequence = Sequence([Dataset()])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.add_new(0x00280120, "US", 0)  # PixelPaddingValue
    assert_same_as_pydicom(write_dataset(ds, tmp_path / "in.dcm"))


@pytest.mark.realdata
def test_real_files_read_as_pydicom_reads_them(realdata: Path) -> None:
    fast = 0
    for path in sorted(p for p in realdata.rglob("*") if p.is_file()):
        if read_header_fast(path, DEFER_SIZE) is None:
            continue  # read by dcmread itself
        assert_same_as_pydicom(path)
        fast += 1
    assert fast > 100
