"""Integration: real Tesseract on generated images, the real files, the installed commands."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomscrub.cli import main
from dicomscrub.samples import fake_patients, make_cr_mono1, make_ultrasound

ROOT = Path(__file__).resolve().parents[1]
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract")
HAS_RAPIDOCR = importlib.util.find_spec("rapidocr_onnxruntime") is not None
ENGINES = [
    pytest.param("tesseract", marks=needs_tesseract),
    pytest.param("rapidocr", marks=pytest.mark.skipif(not HAS_RAPIDOCR, reason="no rapidocr")),
]


def _covered(box: object, boxes: list[dict[str, int]]) -> float:
    """Fraction of a ground-truth box covered by the redaction boxes."""
    b = box  # BBox
    mask = np.zeros((b.height, b.width), bool)  # type: ignore[attr-defined]
    for r in boxes:
        x0, y0 = max(r["left"], b.x), max(r["top"], b.y)  # type: ignore[attr-defined]
        x1 = min(r["left"] + r["width"], b.right)  # type: ignore[attr-defined]
        y1 = min(r["top"] + r["height"], b.bottom)  # type: ignore[attr-defined]
        if x1 > x0 and y1 > y0:
            mask[y0 - b.y : y1 - b.y, x0 - b.x : x1 - b.x] = True  # type: ignore[attr-defined]
    return float(mask.mean())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("maker", [make_ultrasound, make_cr_mono1])
def test_the_engine_finds_every_burned_in_phi_line_and_keeps_clinical_text(
    tmp_path: Path, maker: object, engine: str
) -> None:
    import json

    sample = maker(fake_patients(2, seed=5)[1], uid_seed="tess")  # type: ignore[operator]
    (tmp_path / "in").mkdir()
    sample.dataset.save_as(tmp_path / "in" / "x.dcm", enforce_file_format=True)
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--headers", str(tmp_path / "hdr"), "--jobs", "1", "--no-progress",
                 "--ocr-engine", engine, "--redact", "phi"])  # fmt: skip
    assert code == 0
    boxes = json.loads((tmp_path / "hdr" / "x.dcm_bboxes.json").read_text())["boxes"]
    for truth in sample.phi_boxes:
        assert _covered(truth, boxes) >= 0.98
    kept = [c for c in sample.clinical_boxes if _covered(c, boxes) < 0.5]
    assert len(kept) >= len(sample.clinical_boxes) // 2


@needs_tesseract
def test_multi_frame_cine_is_redacted_on_every_frame_with_tesseract(tmp_path: Path) -> None:
    sample = make_ultrasound(fake_patients(1, seed=2)[0], frames=8, uid_seed="cine")
    (tmp_path / "in").mkdir()
    sample.dataset.save_as(tmp_path / "in" / "cine.dcm", enforce_file_format=True)
    assert main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--headers", str(tmp_path / "hdr"), "--jobs", "1", "--samples", "3",
                 "--no-progress"]) == 0  # fmt: skip
    arr = pydicom.dcmread(tmp_path / "out" / "cine.dcm").pixel_array
    assert arr.shape[0] == 8
    for box in sample.phi_boxes:
        area = arr[:, box.y : box.bottom, box.x : box.right]
        assert (area == 0).all()


def without_dates(raw: bytes, ds: pydicom.Dataset) -> bytes:
    """``raw`` with every DA, DT and TM value of ``ds`` taken out."""
    for elem in ds.iterall():
        if elem.VR in ("DA", "DT", "TM") and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            for value in values:
                raw = raw.replace(str(value).encode(), b"")
    return raw


def text_tokens(ds: pydicom.Dataset) -> set[str]:
    """Every alphanumeric token of every non-binary value in a dataset and its meta."""
    import re

    tokens: set[str] = set()
    for elem in [*ds.file_meta.iterall(), *ds.iterall()]:
        if elem.VR in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.value is None:
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        for value in values:
            tokens.update(re.findall(r"[A-Za-z0-9]+", str(value)))
    return tokens


@pytest.mark.realdata
def test_every_real_file_is_deidentified_or_rejected_with_a_reason(
    tmp_path: Path, realdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    code = main(["run", "--input", str(realdata), "--output", str(tmp_path / "out"),
                 "--headers", str(tmp_path / "hdr"), "--no-progress"])  # fmt: skip
    assert code in (0, 1)
    record = json.loads((tmp_path / "hdr" / "dicomscrub_run.json").read_text())
    summary = record["summary"]
    assert summary["done"] + summary["failed"] == summary["discovered"] >= 190, summary
    assert all(f["reason"] for f in record["failures"])
    assert summary["failed"] <= 10, record["failures"]
    checked = 0
    for side in (tmp_path / "hdr").rglob("*_bboxes.json"):
        data = json.loads(side.read_text())
        src = pydicom.dcmread(data["source"], force=True)
        out_path = Path(data["output"])
        out = pydicom.dcmread(out_path)
        raw = out_path.read_bytes()
        # Pixel bytes and the random digits of remapped 2.25 UIDs can hold any short
        # string by chance; everything else in the file is checked.
        blobs = []
        for elem in [*out.file_meta.iterall(), *out.iterall()]:
            if elem.VR in ("UI", "OB", "OW", "OF", "OD", "OL", "OV") and elem.value:
                values = elem.value if elem.VM > 1 and elem.VR == "UI" else [elem.value]
                blobs += [v if isinstance(v, bytes) else str(v).encode() for v in values]
        for blob in sorted(blobs, key=len, reverse=True):  # longest first: pixel data whole
            raw = raw.replace(blob, b"")
        for keyword in (
            "PatientName",
            "PatientID",
            "AccessionNumber",
            "InstitutionName",
            "ReferringPhysicianName",
            "OperatorsName",
            "PatientBirthDate",
        ):
            value = str(data["phi"].get(keyword, "")).strip()
            maker = str(out.get("Manufacturer", "")).upper()  # kept by the profile
            if (
                len(value) >= 4
                and value.upper() not in ("ANONYMIZED", "ANONYMOUS")
                and (value.upper() not in maker)
            ):
                if value.isdigit():
                    # A number can turn up inside a shifted date or time by chance (the
                    # shift depends on the random key): look for it as a whole token, and
                    # in the bytes outside date and time values.
                    assert value not in text_tokens(out), (side.name, keyword)
                    assert value.encode() not in without_dates(raw, out), (side.name, keyword)
                else:
                    assert value.encode() not in raw, (side.name, keyword)
        birth = str(data["phi"].get("PatientBirthDate", "")).strip()
        if len(birth) == 8 and out.get("PatientBirthDate"):
            assert out.PatientBirthDate != birth, side.name  # shifted
        assert out.PatientIdentityRemoved == "YES"
        if "PixelData" in src and "Rows" in src:
            assert (out.Rows, out.Columns) == (src.Rows, src.Columns)
            assert int(out.get("NumberOfFrames", 1) or 1) == int(src.get("NumberOfFrames", 1) or 1)
            out.pixel_array  # noqa: B018 - must decode
            checked += 1
    assert checked >= 130, checked


def test_the_original_script_and_console_command_run_as_subprocesses(tmp_path: Path) -> None:
    for cmd in ([sys.executable, str(ROOT / "redact_dicom_image_phi.py"), "--help"],
                [sys.executable, "-m", "dicomscrub", "run", "--help"]):  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0
        for flag in (
            "--input",
            "--output",
            "--headers",
            "--recursive",
            "--overwrite",
            "--samples",
            "--top-ratio",
            "--bottom-ratio",
            "--left-ratio",
            "--right-ratio",
            "--padding",
            "--merge-iou",
            "--expand",
            "--patient-prefix",
            "--random-text",
            "--text-bold",
            "--pdf-report",
        ):
            assert flag in proc.stdout
    script = shutil.which("dicomscrub") or str(Path(sys.executable).parent / "dicomscrub")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "dicomscrub" in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / "redact_dicom_image_phi.py")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2


@pytest.mark.realdata
def test_a_box_forced_on_every_real_image_is_filled_and_nothing_else_changes(
    tmp_path: Path, realdata: Path
) -> None:
    import warnings

    from dicomscrub.batch.worker import RedactTask, redact_file
    from dicomscrub.config import DeidConfig, OutputConfig, PixelConfig
    from dicomscrub.header.keys import load_or_create_key
    from dicomscrub.models import BBox, Status

    # The forced box is no detection: real text elsewhere in these images would (rightly)
    # fail the second look, which is not what this test is about.
    config = DeidConfig(output=OutputConfig(input=realdata, output=tmp_path / "o",
                                            headers=tmp_path / "h"),
                        pixels=PixelConfig(second_look=False))  # fmt: skip
    load_or_create_key(config.key_path)
    checked = failed = 0
    for path in sorted(realdata.rglob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                src = pydicom.dcmread(path, force=True)
                before = src.pixel_array
            except Exception:
                continue  # not decodable at all: covered by the run-over-everything test
        if before.ndim < 2 or "Rows" not in src:
            continue
        rel = path.relative_to(realdata).as_posix()
        box = BBox(0, 0, max(1, int(src.Columns) // 4), max(1, int(src.Rows) // 8))
        outcome = redact_file(RedactTask(path, rel, rel, (box,), True, "leaf", "sig"), config)
        if outcome.status is not Status.DONE:
            assert outcome.reason
            failed += 1
            continue
        after = pydicom.dcmread(outcome.output).pixel_array
        assert after.shape == before.shape, rel
        frames_b = before if int(src.get("NumberOfFrames", 1) or 1) > 1 else before[None]
        frames_a = after if int(src.get("NumberOfFrames", 1) or 1) > 1 else after[None]
        inside = frames_a[:, : box.height, : box.width]
        assert (inside == inside[:, :1, :1]).all(), rel
        mask = np.ones(frames_b.shape[1:3], bool)
        mask[: box.height, : box.width] = False
        assert np.array_equal(frames_b[:, mask], frames_a[:, mask]), rel
        checked += 1
    assert checked >= 100 and failed <= 5, (checked, failed)
