"""The synthetic sample factories: valid files, PHI where they say it is, reproducible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.uid import ExplicitVRLittleEndian

from dicomscrub.models import BBox
from dicomscrub.samples import (
    PRIVATE_CREATOR,
    FakePatient,
    Sample,
    fake_patients,
    make_cr_mono1,
    make_ct,
    make_palette,
    make_secondary_capture,
    make_ultrasound,
    write_sample_set,
)

PATIENT = fake_patients(3, seed=7)[2]

# name -> (factory, expected pixel_array shape, dtype)
FACTORIES: dict[str, tuple[Callable[[], Sample], tuple[int, ...], type[np.generic]]] = {
    "ultrasound": (lambda: make_ultrasound(PATIENT), (480, 640, 3), np.uint8),
    "ultrasound cine": (lambda: make_ultrasound(PATIENT, frames=3), (3, 480, 640, 3), np.uint8),
    "ct": (lambda: make_ct(PATIENT), (256, 256), np.int16),
    "cr monochrome1": (lambda: make_cr_mono1(PATIENT), (320, 256), np.uint16),
    "secondary capture": (lambda: make_secondary_capture(PATIENT), (256, 320), np.uint8),
    "palette": (lambda: make_palette(PATIENT), (256, 256), np.uint8),
}

EXPECTED_TREE = {
    "site_a/us_probe1/us_0001.dcm",
    "site_a/us_probe1/us_0002.dcm",
    "site_a/us_probe1/us_cine_0001.dcm",
    "site_a/ct/ct_0001.dcm",
    "site_b/cr/cr_0001.dcm",
    "site_b/sc/sc_0001.dcm",
    "site_b/sc/palette_0001.dcm",
}


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def made(request: pytest.FixtureRequest) -> tuple[str, Sample]:
    name: str = request.param
    return name, FACTORIES[name][0]()


def roundtrip(ds: Dataset, tmp_path: Path) -> Dataset:
    path = tmp_path / "roundtrip.dcm"
    dcmwrite(path, ds, enforce_file_format=True)
    return dcmread(path)


def first_frame(sample: Sample) -> np.ndarray:
    """Frame 0 as rows x cols x channels, as signed integers so differences do not wrap."""
    arr = np.asarray(sample.dataset.pixel_array).astype(np.int64)
    if sample.dataset.get("NumberOfFrames", 1) > 1:
        arr = arr[0]
    return arr if arr.ndim == 3 else arr[..., None]


def ink_difference(image: np.ndarray, box: BBox) -> np.ndarray:
    """Per-pixel distance (largest over channels) from the median of a ring around ``box``."""
    rows, cols = image.shape[:2]
    outer = box.expanded(3, rows, cols)
    ring = np.ones((outer.height, outer.width), dtype=bool)
    ring[box.y - outer.y : box.bottom - outer.y, box.x - outer.x : box.right - outer.x] = False
    surround = image[outer.y : outer.bottom, outer.x : outer.right][ring]
    background = np.median(surround, axis=0)
    inside = image[box.y : box.bottom, box.x : box.right]
    diff: np.ndarray = np.abs(inside - background).max(axis=-1)
    return diff


def test_every_generator_survives_dcmwrite_and_dcmread_with_the_expected_pixels(
    made: tuple[str, Sample], tmp_path: Path
) -> None:
    name, sample = made
    _, shape, dtype = FACTORIES[name]
    back = roundtrip(sample.dataset, tmp_path)
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert back.file_meta.MediaStorageSOPClassUID == back.SOPClassUID
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert back.pixel_array.shape == shape
    assert back.pixel_array.dtype == dtype
    assert np.array_equal(back.pixel_array, sample.dataset.pixel_array)


def test_every_box_lies_inside_the_image_and_is_tight_around_visible_ink(
    made: tuple[str, Sample],
) -> None:
    _, sample = made
    image = first_frame(sample)
    rows, cols = image.shape[:2]
    assert sample.phi_boxes, "every generator burns in some PHI"
    assert len(sample.phi_boxes) == len(sample.phi_texts)
    for box in sample.phi_boxes + sample.clinical_boxes:
        assert box.width > 0 and box.height > 0
        assert box.clipped(rows, cols) == box
        grown = box.expanded(1, rows, cols)
        diff = ink_difference(image, grown)
        assert diff.max() > 100, f"no ink in {box}"
        ink = diff > 0.1 * diff.max()
        top, left = box.y - grown.y, box.x - grown.x
        inside = ink[top : top + box.height, left : left + box.width]
        assert inside.mean() > 0.1
        # tight: ink touches all four edges of the box, and none lies just outside it
        assert inside[0].any() and inside[-1].any()
        assert inside[:, 0].any() and inside[:, -1].any()
        assert ink.sum() == inside.sum(), f"ink outside {box}"


def test_burned_in_lines_stay_in_the_outer_20_percent_margins_and_never_overlap(
    made: tuple[str, Sample],
) -> None:
    _, sample = made
    rows, cols = sample.dataset.Rows, sample.dataset.Columns
    boxes = sample.phi_boxes + sample.clinical_boxes
    for box in boxes:
        assert (
            box.bottom <= 0.2 * rows
            or box.y >= 0.8 * rows
            or box.right <= 0.2 * cols
            or box.x >= 0.8 * cols
        ), f"{box} reaches into the centre of a {cols}x{rows} image"
    for i, box in enumerate(boxes):
        assert all(box.intersection(other) == 0 for other in boxes[i + 1 :])


def test_every_drawn_phi_line_carries_a_value_from_the_header(made: tuple[str, Sample]) -> None:
    _, sample = made
    ds, patient = sample.dataset, sample.patient
    dates = [f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in (ds.StudyDate, ds.PatientBirthDate)]
    values = [
        *patient.name_parts[:2],
        ds.PatientID,
        ds.InstitutionName,
        *str(ds.ReferringPhysicianName).split("^")[:1],
        *dates,
    ]
    for text in sample.phi_texts:
        assert any(value in text for value in values), text


def test_the_patients_phi_is_in_the_header_nested_sequences_and_private_block(
    made: tuple[str, Sample], tmp_path: Path
) -> None:
    _, sample = made
    patient = sample.patient
    ds = roundtrip(sample.dataset, tmp_path)
    assert str(ds.PatientName) == patient.name
    assert all(part in str(ds.PatientName) for part in patient.name_parts)
    assert patient.name in ds.StudyDescription
    assert ds.PatientID == patient.patient_id
    assert ds.PatientBirthDate == patient.birth_date
    assert ds.StudyDate == ds.SeriesDate == ds.AcquisitionDate == ds.ContentDate
    assert ds.InstitutionName == patient.institution
    assert str(ds.ReferringPhysicianName) == patient.referring_physician
    for keyword in ("Manufacturer", "ManufacturerModelName", "StationName", "DeviceSerialNumber"):
        assert ds.get(keyword)
    request = ds.RequestAttributesSequence[0]
    assert request.RequestedProcedureID == patient.accession
    assert request.ReferencedStudySequence[0].ReferencedSOPInstanceUID == ds.StudyInstanceUID
    assert patient.patient_id[::-1] in ds.OtherPatientIDsSequence[0].PatientID
    block = ds.private_block(0x0009, PRIVATE_CREATOR)
    assert block[0x01].value == patient.name
    assert block[0x02].value[0].PatientID == patient.patient_id


def test_an_ultrasound_cine_repeats_its_burned_in_text_on_every_frame_over_changing_speckle() -> (
    None
):
    sample = make_ultrasound(frames=4)
    frames = sample.dataset.pixel_array
    assert sample.dataset.NumberOfFrames == 4
    assert sample.dataset.FrameIncrementPointer == 0x00181063
    for box in sample.phi_boxes + sample.clinical_boxes:
        crops = frames[:, box.y : box.bottom, box.x : box.right]
        assert all(np.array_equal(crops[0], crop) for crop in crops[1:])
    assert not np.array_equal(frames[0], frames[1])


def test_ultrasound_text_lies_outside_the_declared_ultrasound_region() -> None:
    sample = make_ultrasound()
    ds = sample.dataset
    region = ds.SequenceOfUltrasoundRegions[0]
    fan = BBox(
        region.RegionLocationMinX0,
        region.RegionLocationMinY0,
        region.RegionLocationMaxX1 - region.RegionLocationMinX0 + 1,
        region.RegionLocationMaxY1 - region.RegionLocationMinY0 + 1,
    )
    assert ds.SOPClassUID.name == "Ultrasound Image Storage"
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (
        3,
        "RGB",
        0,
    )
    assert ds.TransducerData == "C5-1"
    assert all(box.intersection(fan) == 0 for box in sample.phi_boxes + sample.clinical_boxes)


def test_ct_text_shows_white_in_the_stored_window() -> None:
    sample = make_ct()
    ds = sample.dataset
    hu = apply_modality_lut(ds.pixel_array, ds)
    top_of_window = float(ds.WindowCenter) + float(ds.WindowWidth) / 2
    assert ds.PixelRepresentation == 1 and ds.RescaleIntercept == -1024
    for box in sample.phi_boxes:
        assert hu[box.y : box.bottom, box.x : box.right].max() >= top_of_window


def test_monochrome1_text_is_stored_low_so_that_it_displays_white() -> None:
    sample = make_cr_mono1()
    ds = sample.dataset
    arr = ds.pixel_array.astype(np.int64)
    assert (ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored) == (
        "MONOCHROME1",
        16,
        12,
    )
    background = np.median(arr[: ds.Rows // 20, ds.Columns // 2 : ds.Columns - 20])
    for box in sample.phi_boxes:
        assert arr[box.y : box.bottom, box.x : box.right].min() < background / 4


def test_palette_text_maps_to_white_through_the_lookup_tables() -> None:
    sample = make_palette()
    ds = sample.dataset
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    assert list(ds.RedPaletteColorLookupTableDescriptor) == [256, 0, 16]
    assert len(ds.BluePaletteColorLookupTableData) == 512
    rgb = apply_color_lut(ds.pixel_array, ds)
    for box in sample.phi_boxes:
        assert (rgb[box.y : box.bottom, box.x : box.right] == 65535).all(axis=-1).any()


def test_caller_study_and_series_uids_are_kept_and_uid_seed_makes_uids_reproducible() -> None:
    shared = make_ct(study_uid="1.2.3.4", series_uid="1.2.3.4.5")
    assert (shared.dataset.StudyInstanceUID, shared.dataset.SeriesInstanceUID) == (
        "1.2.3.4",
        "1.2.3.4.5",
    )
    first, second = make_ct(uid_seed="x"), make_ct(uid_seed="x")
    assert first.dataset.SOPInstanceUID == second.dataset.SOPInstanceUID
    assert make_ct().dataset.SOPInstanceUID != make_ct().dataset.SOPInstanceUID
    uids = {first.dataset.StudyInstanceUID, first.dataset.SeriesInstanceUID}
    uids |= {first.dataset.SOPInstanceUID, first.dataset.FrameOfReferenceUID}
    assert len(uids) == 4


def test_fake_patients_are_distinct_and_the_same_for_the_same_seed() -> None:
    patients = fake_patients(20, seed=3)
    assert patients == fake_patients(20, seed=3)
    assert patients != fake_patients(20, seed=4)
    for field in ("name", "patient_id", "accession", "study_date", "birth_date"):
        assert len({getattr(p, field) for p in patients}) == 20, field
    for patient in patients:
        assert "^" in patient.name and "555" in patient.phone
        assert len(patient.birth_date) == 8 and patient.birth_date.isdigit()
    assert FakePatient().name == "DOE^JANE^Q"
    with pytest.raises(ValueError, match="patients"):
        fake_patients(1000)


@pytest.fixture(scope="module")
def sample_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("samples")
    return root, write_sample_set(root, seed=5)


def test_write_sample_set_writes_the_demo_tree(sample_tree: tuple[Path, list[Path]]) -> None:
    root, paths = sample_tree
    assert {p.relative_to(root).as_posix() for p in paths} == EXPECTED_TREE
    assert (root / "site_b" / "notes.txt").is_file()
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert written == EXPECTED_TREE | {"site_b/notes.txt"}
    for path in paths:
        assert path.read_bytes()[128:132] == b"DICM"


def test_the_demo_ultrasounds_share_one_device_and_the_cine_joins_the_first_study(
    sample_tree: tuple[Path, list[Path]],
) -> None:
    root, _ = sample_tree
    folder = root / "site_a" / "us_probe1"
    first, second, cine = (
        dcmread(folder / n) for n in ("us_0001.dcm", "us_0002.dcm", "us_cine_0001.dcm")
    )
    device = ("Manufacturer", "ManufacturerModelName", "TransducerData", "Rows", "Columns")
    for other in (second, cine):
        assert all(first.get(k) == other.get(k) for k in device)
    assert first.PatientID != second.PatientID
    assert cine.NumberOfFrames == 12
    assert cine.StudyInstanceUID == first.StudyInstanceUID
    assert cine.SeriesInstanceUID != first.SeriesInstanceUID


def test_write_sample_set_is_byte_for_byte_deterministic_for_a_seed(
    sample_tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    _, paths = sample_tree
    again = write_sample_set(tmp_path / "same", seed=5)
    for old, new in zip(paths, again, strict=True):
        assert old.read_bytes() == new.read_bytes(), old.name
    other = write_sample_set(tmp_path / "other", seed=6)
    assert dcmread(other[0]).PixelData != dcmread(paths[0]).PixelData
    assert dcmread(other[0]).PatientID != dcmread(paths[0]).PatientID
