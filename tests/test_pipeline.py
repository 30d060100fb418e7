"""End-to-end runs on synthetic files (fake OCR engine: every ink line in a margin is PHI)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from dicomscrub.audit.sidecar import SIDECAR_KEYS
from dicomscrub.cli import main
from dicomscrub.models import BBox
from dicomscrub.samples import (
    fake_patients,
    make_cr_mono1,
    make_ct,
    make_palette,
    make_ultrasound,
)


def save(ds: pydicom.Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def run(tmp: Path, engine: str, *extra: str, src: Path | None = None) -> int:
    return main(
        ["run", "--input", str(src or tmp / "in"), "--output", str(tmp / "out"),
         "--headers", str(tmp / "hdr"), "--jobs", "1", "--no-progress",
         "--ocr-engine", engine, *extra]
    )  # fmt: skip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def header_strings(sample_patient: object) -> list[str]:
    p = sample_patient
    return [
        *p.name_parts,
        p.patient_id,
        p.accession,
        p.institution,
        p.birth_date,  # type: ignore[attr-defined]
        p.study_date,
        p.phone,
    ]  # type: ignore[attr-defined]


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, object]:
    people = fake_patients(3, seed=7)
    samples = {
        "us/a/us1.dcm": make_ultrasound(people[0], uid_seed="us1"),
        "us/a/cine.dcm": make_ultrasound(people[1], frames=6, uid_seed="cine"),
        "ct/ct1.dcm": make_ct(people[2], uid_seed="ct"),
        "cr/cr1.dcm": make_cr_mono1(people[0], uid_seed="cr"),
        "pal/p1.dcm": make_palette(people[1], uid_seed="pal"),
    }
    for rel, sample in samples.items():
        save(sample.dataset, tmp_path / "in" / rel)
    (tmp_path / "in" / "readme.txt").write_text("not dicom")
    return samples


def test_no_header_phi_string_appears_anywhere_in_the_output_bytes(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    assert run(tmp_path, ink_engine) == 0
    for rel, sample in tree.items():
        data = (tmp_path / "out" / rel).read_bytes()
        for value in header_strings(sample.patient):  # type: ignore[attr-defined]
            if len(value) >= 3:
                assert value.encode() not in data, (rel, "leaked a header value")
        assert sample.dataset.StudyInstanceUID.encode() not in data  # type: ignore[attr-defined]


def test_burned_in_phi_is_gone_from_every_frame(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    assert run(tmp_path, ink_engine) == 0
    for rel, sample in tree.items():
        before = sample.dataset.pixel_array  # type: ignore[attr-defined]
        after = pydicom.dcmread(tmp_path / "out" / rel).pixel_array
        frames_before = (
            before if before.ndim == (4 if before.shape[-1] == 3 else 3) else before[None]
        )
        frames_after = after if after.ndim == frames_before.ndim else after[None]
        for box in sample.phi_boxes:  # type: ignore[attr-defined]
            for index in range(frames_after.shape[0]):
                assert_no_ink_left(frames_before[index], frames_after[index], box, (rel, index))


def assert_no_ink_left(before: np.ndarray, after: np.ndarray, box: BBox, where: object) -> None:
    """Within a line's ink box, the redacted pixels are one fill, and what was left as it
    was is the ground between words, within its noise: no pixel of the line's ink, or of
    its soft edges, stays."""
    was, now = (
        a[box.y : box.bottom, box.x : box.right].reshape(-1, a.shape[-1] if a.ndim == 3 else 1)
        for a in (before, after)
    )
    kept = (was == now).all(axis=1)
    assert len(np.unique(now[~kept], axis=0)) <= 1, (where, "not one fill")
    spread = np.ptp(was.astype(np.int64), axis=0).max()
    left = np.ptp(was[kept].astype(np.int64), axis=0).max() if kept.any() else 0
    assert left <= 0.05 * spread, (where, "text left inside a PHI box")


def test_pixels_outside_the_boxes_are_unchanged_for_lossless_inputs(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    assert run(tmp_path, ink_engine) == 0
    for rel, sample in tree.items():
        side = json.loads((tmp_path / "hdr" / f"{rel}_bboxes.json").read_text())
        before = sample.dataset.pixel_array  # type: ignore[attr-defined]
        after = pydicom.dcmread(tmp_path / "out" / rel).pixel_array
        mask = np.ones(before.shape[-3:-1] if before.shape[-1] == 3 else before.shape[-2:], bool)
        for b in side["boxes"]:
            mask[b["top"] : b["top"] + b["height"], b["left"] : b["left"] + b["width"]] = False
        assert np.array_equal(
            before[..., mask, :]
            if before.shape[-1] == 3 and before.ndim >= 3 and mask.shape != before.shape[-2:]
            else before[..., mask],
            after[..., mask, :]
            if after.shape[-1] == 3 and after.ndim >= 3 and mask.shape != after.shape[-2:]
            else after[..., mask],
        ), rel


def test_sidecars_have_exactly_the_original_keys_and_are_private(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    assert run(tmp_path, ink_engine) == 0
    side_path = tmp_path / "hdr" / "us/a/us1.dcm_bboxes.json"
    side = json.loads(side_path.read_text())
    assert tuple(side) == SIDECAR_KEYS
    assert side["num_frames"] == 1 and side["leaf_key"] == "us/a" and side["leaf_union"] is True
    assert side["phi"]["PatientID"] == tree["us/a/us1.dcm"].patient.patient_id  # type: ignore[attr-defined]
    assert stat.S_IMODE(os.stat(side_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "hdr").st_mode) == 0o700
    key = tmp_path / "hdr" / ".dicomscrub.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_files_of_one_leaf_folder_and_device_share_the_union_of_boxes(
    tmp_path: Path, ink_engine: str
) -> None:
    people = fake_patients(2, seed=3)
    a = make_ultrasound(people[0], uid_seed="a")
    b = make_ultrasound(people[1], uid_seed="b")
    pixels = b.dataset.pixel_array.copy()
    pixels[: int(b.dataset.Rows * 0.25)] = 0  # file b shows no text: its own search finds nothing
    b.dataset.PixelData = pixels.tobytes()
    save(a.dataset, tmp_path / "in" / "leaf" / "a.dcm")
    save(b.dataset, tmp_path / "in" / "leaf" / "b.dcm")
    assert run(tmp_path, ink_engine, "--bottom-ratio", "0", "--left-ratio", "0",
               "--right-ratio", "0", "--margins-only") == 0  # fmt: skip
    side_a = json.loads((tmp_path / "hdr" / "leaf/a.dcm_bboxes.json").read_text())
    side_b = json.loads((tmp_path / "hdr" / "leaf/b.dcm_bboxes.json").read_text())
    rects = [[{k: box[k] for k in ("left", "top", "width", "height")} for box in side["boxes"]]
             for side in (side_a, side_b)]  # fmt: skip
    assert rects[0] and rects[0] == rects[1]
    assert side_a["transducer_signature"] == side_b["transducer_signature"]
    # Each box says why it is there: the text of the top band was read on file a only.
    top_band = int(b.dataset.Rows * 0.25)
    for side, found_on in ((side_a, "this file"), (side_b, "another file of the group")):
        top = [box for box in side["boxes"] if box["top"] + box["height"] <= top_band]
        assert top
        for box in top:
            assert box["origins"] and {o["found_on"] for o in box["origins"]} == {found_on}
            assert {(o["source"], o["rule"]) for o in box["origins"]} == {
                (f"ocr:{ink_engine}", "all-text")
            }


def test_inputs_are_never_modified(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    files = sorted((tmp_path / "in").rglob("*"))
    before = {p: digest(p) for p in files if p.is_file()}
    assert run(tmp_path, ink_engine) == 0
    assert {p: digest(p) for p in files if p.is_file()} == before


def test_the_same_patient_gets_the_same_pseudonym_across_two_runs(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    assert run(tmp_path, ink_engine) == 0
    first = pydicom.dcmread(tmp_path / "out" / "us/a/us1.dcm")
    cr = pydicom.dcmread(tmp_path / "out" / "cr/cr1.dcm")
    assert first.PatientID == cr.PatientID  # same patient, other study
    assert str(first.PatientName).startswith("anon_")
    assert run(tmp_path, ink_engine, "--overwrite") == 0
    again = pydicom.dcmread(tmp_path / "out" / "us/a/us1.dcm")
    assert again.PatientID == first.PatientID
    assert again.SOPInstanceUID == first.SOPInstanceUID
    assert again.StudyDate == first.StudyDate


def test_a_rerun_skips_finished_files_unless_told_to_overwrite(
    tmp_path: Path, tree: dict[str, object], ink_engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, ink_engine) == 0
    capsys.readouterr()
    assert run(tmp_path, ink_engine) == 0
    assert f"0 done, {len(tree)} skipped" in capsys.readouterr().out
    assert run(tmp_path, ink_engine, "--overwrite") == 0
    assert f"{len(tree)} done, 0 skipped" in capsys.readouterr().out


def test_an_unreadable_file_is_reported_and_the_batch_goes_on(
    tmp_path: Path, tree: dict[str, object], ink_engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = make_ct(fake_patients(1, seed=9)[0], uid_seed="broken").dataset
    broken.PixelData = broken.PixelData[:100]  # truncated pixel data
    save(broken, tmp_path / "in" / "ct" / "broken.dcm")
    assert run(tmp_path, ink_engine) == 1
    out = capsys.readouterr().out
    assert "1 failed" in out and "broken.dcm" in out
    assert not (tmp_path / "out" / "ct" / "broken.dcm").exists()
    assert (tmp_path / "out" / "ct" / "ct1.dcm").exists()
    for value in header_strings(fake_patients(1, seed=9)[0]):
        assert value not in out


def test_dicomdir_and_non_dicom_files_are_skipped_and_counted(
    tmp_path: Path, tree: dict[str, object], ink_engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    assert run(tmp_path, ink_engine) == 0
    assert "2 other files ignored" in capsys.readouterr().out
    record = json.loads((tmp_path / "hdr" / "dicomscrub_run.json").read_text())
    assert sorted(i["source"] for i in record["ignored"]) == ["DICOMDIR", "readme.txt"]


def test_a_file_without_preamble_is_recognised_by_content(tmp_path: Path, ink_engine: str) -> None:
    ds = make_ct(fake_patients(1)[0], uid_seed="nopre").dataset
    path = tmp_path / "in" / "noext"
    path.parent.mkdir(parents=True)
    ds.preamble = None
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    assert run(tmp_path, ink_engine) == 0
    assert (tmp_path / "out" / "noext").exists()


def test_no_recursive_stays_in_the_top_folder(
    tmp_path: Path, tree: dict[str, object], ink_engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save(make_ct(fake_patients(1)[0], uid_seed="top").dataset, tmp_path / "in" / "top.dcm")
    assert run(tmp_path, ink_engine, "--no-recursive") == 0
    assert "1 DICOM files" in capsys.readouterr().out


def test_folder_named_after_the_patient_is_renamed_in_the_release_tree(
    tmp_path: Path, ink_engine: str
) -> None:
    person = fake_patients(1, seed=11)[0]
    save(
        make_ct(person, uid_seed="named").dataset,
        tmp_path / "in" / f"{person.name_parts[0]}_{person.name_parts[1]}" / "ct.dcm",
    )
    assert run(tmp_path, ink_engine) == 0
    outputs = [
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.dcm")
    ]
    assert len(outputs) == 1
    assert person.name_parts[0] not in outputs[0]
    assert outputs[0].startswith("anon_") and outputs[0].endswith("/ct.dcm")


def test_rle_input_stays_rle_and_is_redacted(tmp_path: Path, ink_engine: str) -> None:
    sample = make_ct(fake_patients(1)[0], uid_seed="rle")
    ds = sample.dataset
    ds.compress(RLELossless)
    save(ds, tmp_path / "in" / "rle.dcm")
    assert run(tmp_path, ink_engine) == 0
    out = pydicom.dcmread(tmp_path / "out" / "rle.dcm")
    assert out.file_meta.TransferSyntaxUID == RLELossless
    for box in sample.phi_boxes:
        assert_no_ink_left(sample.dataset.pixel_array, out.pixel_array, box, "rle")


def test_random_text_draws_ink_inside_redacted_boxes(tmp_path: Path, ink_engine: str) -> None:
    sample = make_ultrasound(fake_patients(1)[0], uid_seed="rt")
    save(sample.dataset, tmp_path / "in" / "us.dcm")
    assert run(tmp_path, ink_engine, "--random-text", "--text-bold") == 0
    side = json.loads((tmp_path / "hdr" / "us.dcm_bboxes.json").read_text())
    arr = pydicom.dcmread(tmp_path / "out" / "us.dcm").pixel_array
    big = max(side["boxes"], key=lambda b: b["width"] * b["height"])
    area = arr[big["top"] : big["top"] + big["height"], big["left"] : big["left"] + big["width"]]
    assert area.max() > 200 and area.min() == 0


def test_pdf_report_is_written(tmp_path: Path, tree: dict[str, object], ink_engine: str) -> None:
    report = tmp_path / "report.pdf"
    assert run(tmp_path, ink_engine, "--pdf-report", str(report)) == 0
    assert report.read_bytes().startswith(b"%PDF")
    assert (
        report.read_bytes().count(b"/Type /Page\n") + report.read_bytes().count(b"/Type /Page ")
        >= 1
    )


def test_usage_errors_exit_with_status_2(tmp_path: Path) -> None:
    assert main(["run", "--input", str(tmp_path)]) == 2
    assert main(["run", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o"),
                 "--headers", str(tmp_path / "h")]) == 2  # fmt: skip
    assert main(["run", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                 "--headers", str(tmp_path / "h"), "--top-ratio", "1.5"]) == 2  # fmt: skip


def test_a_missing_ocr_engine_names_what_to_install(
    tmp_path: Path, tree: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "nonesuch") == 2
    assert "unknown OCR engine" in capsys.readouterr().err


def test_outputs_are_byte_identical_whatever_the_number_of_workers(
    tmp_path: Path, tree: dict[str, object], ink_engine: str
) -> None:
    key = ["--key-file", str(tmp_path / "key")]
    assert main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o1"),
                 "--headers", str(tmp_path / "h1"), "--jobs", "1", "--no-progress",
                 "--ocr-engine", ink_engine, *key]) == 0  # fmt: skip
    assert main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o2"),
                 "--headers", str(tmp_path / "h2"), "--jobs", "2", "--no-progress",
                 "--ocr-engine", ink_engine, *key]) == 0  # fmt: skip
    for rel in tree:
        assert (tmp_path / "o1" / rel).read_bytes() == (tmp_path / "o2" / rel).read_bytes()


def _jpeg_cine(frames: int) -> tuple[pydicom.Dataset, object]:
    """A lossy JPEG baseline (YBR_FULL_422) ultrasound cine built frame by frame with Pillow."""
    import io

    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    sample = make_ultrasound(fake_patients(1, seed=21)[0], frames=frames, uid_seed="jpeg")
    ds = sample.dataset
    fragments = []
    for frame in ds.pixel_array:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=95, subsampling=1)
        fragments.append(buf.getvalue())
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return ds, sample


def test_a_lossy_jpeg_cine_is_redacted_on_every_frame_and_never_re_encoded_lossily(
    tmp_path: Path, ink_engine: str
) -> None:
    ds, sample = _jpeg_cine(5)
    save(ds, tmp_path / "in" / "cine.dcm")
    assert run(tmp_path, ink_engine) == 0
    out = pydicom.dcmread(tmp_path / "out" / "cine.dcm")
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert out.PhotometricInterpretation == "RGB" and out.LossyImageCompression == "01"
    arr = out.pixel_array
    assert arr.shape == (5, 480, 640, 3)
    for box in sample.phi_boxes:  # type: ignore[attr-defined]
        assert (arr[:, box.y : box.bottom, box.x : box.right] == 0).all()
