"""The search for burned-in text: ultrasound regions as a prior, every frame of a cine
checked cheaply, and boxes that say why they are there."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset

from conftest import InkEngine
from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox, BoxOrigin, origins_of
from dicomscrub.pixels.detect import Detection, detect_phi_boxes
from dicomscrub.pixels.ocr.base import OcrWord
from dicomscrub.pixels.phi_policy import PhiMatcher
from dicomscrub.pixels.roi import (
    OUTSIDE_US_REGIONS,
    outside,
    search_areas,
    ultrasound_data_regions,
)
from test_failclosed import _text_on_black

needs_rapidocr = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None, reason="rapidocr not installed"
)

ROWS, COLS = 240, 320
MATCHER = PhiMatcher(frozenset())


class CountingInk(InkEngine):
    """The ink engine, counting how often it is asked to read."""

    def __init__(self) -> None:
        self.calls = 0

    def read_words(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().read_words(image)


def header(*, regions: list[tuple[int, int, int, int]] = ()) -> Dataset:  # type: ignore[assignment]
    ds = Dataset()
    ds.Rows, ds.Columns = ROWS, COLS
    ds.PhotometricInterpretation = "MONOCHROME2"
    items = []
    for x0, y0, x1, y1 in regions:
        item = Dataset()
        item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
        items.append(item)
    if items:
        ds.SequenceOfUltrasoundRegions = items
    return ds


def write(frame: np.ndarray, xy: tuple[int, int], text: str, value: int = 255) -> BBox:
    """Burn ``text`` into a uint8 frame; return the box of its ink."""
    mask = Image.new("L", (frame.shape[1], frame.shape[0]), 0)
    ImageDraw.Draw(mask).text(xy, text, fill=255)
    ink = np.asarray(mask) > 0
    frame[ink] = value
    ys, xs = np.nonzero(ink)
    return BBox(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


def covers(boxes: tuple[BBox, ...], ink: BBox) -> bool:
    return any(b.intersection(ink) == ink.area for b in boxes)


def anatomy(rng: np.random.Generator) -> np.ndarray:
    """A moving, low-contrast grey picture (no strokes OCR could take for text)."""
    return rng.integers(30, 50, size=(ROWS, COLS), dtype=np.uint8)


def test_the_area_outside_regions_tiles_the_frame_without_touching_them() -> None:
    regions = [BBox(40, 30, 200, 150), BBox(250, 100, 40, 60)]
    pieces = outside(regions, ROWS, COLS)
    free = np.ones((ROWS, COLS), dtype=bool)
    for r in regions:
        free[r.y : r.bottom, r.x : r.right] = False
    seen = np.zeros((ROWS, COLS), dtype=int)
    for p in pieces:
        assert all(p.intersection(r) == 0 for r in regions)
        seen[p.y : p.bottom, p.x : p.right] += 1
    assert seen.max() == 1  # no pixel searched twice
    # Everything outside the regions is covered, except slivers under MIN_AREA_SIDE_PX.
    assert np.count_nonzero(free & (seen == 0)) < 0.05 * np.count_nonzero(free)


@pytest.mark.filterwarnings("ignore:A value of type")
@pytest.mark.parametrize(
    "corners", [[(50, 50, 20, 200)], [(10, 10, 100, 100), (5, 5, "x", 9)]], ids=["reversed", "bad"]
)
def test_ultrasound_regions_that_cannot_be_trusted_give_no_prior(corners: list) -> None:  # type: ignore[type-arg]
    assert ultrasound_data_regions(header(regions=corners), ROWS, COLS) == []


def test_text_beside_the_ultrasound_region_is_found_even_outside_the_margins() -> None:
    config = PixelConfig(
        top_ratio=0.1, bottom_ratio=0.1, left_ratio=0.1, right_ratio=0.1, margins_only=True
    )
    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    frame[40:200, 100:300] = anatomy(np.random.default_rng(0))[40:200, 100:300]
    ink = write(frame, (36, 110), "ID 4711")  # between the left margin and the image
    engine = CountingInk()

    def found(ds: Dataset) -> tuple[tuple[BBox, ...], tuple[tuple[BoxOrigin, ...], ...]]:
        d = detect_phi_boxes(lambda i: frame, ds, 1, config, engine, MATCHER)
        return d.boxes, d.origins

    boxes, origins = found(header(regions=[(100, 40, 299, 199)]))
    assert covers(boxes, ink)
    hit = [o for b, os in zip(boxes, origins, strict=True) if covers((b,), ink) for o in os]
    assert {o.area for o in hit} == {OUTSIDE_US_REGIONS}
    assert {o.source for o in hit} == {"ocr:ink"}
    boxes, _ = found(header())  # no regions declared: the margins alone miss it
    assert not covers(boxes, ink)


def test_full_frame_search_needs_no_ultrasound_prior() -> None:
    ds = header(regions=[(100, 40, 299, 199)])
    areas = search_areas(ds, ROWS, COLS, PixelConfig(full_frame=True))
    assert [a.box for a in areas] == [BBox(0, 0, COLS, ROWS)]


def every_frame(
    stack: list[np.ndarray], ds: Dataset, config: PixelConfig, engine: CountingInk
) -> Detection:
    """Search a cine held in memory, with the every-frame check."""
    return detect_phi_boxes(
        lambda i: stack[i],
        ds,
        len(stack),
        config,
        engine,
        MATCHER,
        other_frames=lambda indices: (stack[i] for i in indices),
    )


def cine(frames: int, seed: int = 1) -> tuple[list[np.ndarray], BBox]:
    rng = np.random.default_rng(seed)
    stack = []
    ink = BBox(0, 0, 0, 0)
    for _ in range(frames):
        frame = anatomy(rng)
        ink = write(frame, (8, 6), "DOE^JANE 12345")  # a static overlay in the top margin
        stack.append(frame)
    return stack, ink


def test_a_long_cine_with_a_static_overlay_is_read_as_often_as_one_frame() -> None:
    stack, ink = cine(120)
    config = PixelConfig(samples=5)
    single = CountingInk()
    detect_phi_boxes(lambda i: stack[i], header(), 1, config, single, MATCHER)
    engine = CountingInk()
    found = every_frame(stack, header(), config, engine)
    assert found.frames_checked == 115  # every frame not sampled was looked at
    assert engine.calls == single.calls  # but none of them was read again
    assert covers(found.boxes, ink)


def test_an_overlay_that_appears_between_samples_is_found_and_redacted() -> None:
    stack, _ = cine(60)
    for index in range(37, 41):  # frames 37 to 40, none of them sampled
        late = write(stack[index], (8, 210), "ACC 99812")
    engine = CountingInk()
    sampled_only = detect_phi_boxes(
        lambda i: stack[i], header(), len(stack), PixelConfig(), engine, MATCHER
    )
    assert not covers(sampled_only.boxes, late)
    found = every_frame(stack, header(), PixelConfig(), engine)
    assert covers(found.boxes, late)
    hit = [os for b, os in zip(found.boxes, found.origins, strict=True) if covers((b,), late)]
    assert [o.frame for os in hit for o in os] == [38]  # an overlay counts once it stays


def test_a_counter_that_changes_inside_a_found_box_costs_no_extra_reading() -> None:
    rng = np.random.default_rng(2)
    stack = []
    for index in range(80):
        frame = anatomy(rng)
        write(frame, (200, 6), f"FRAME {index:03d}")
        stack.append(frame)
    single = CountingInk()
    detect_phi_boxes(lambda i: stack[i], header(), 1, PixelConfig(), single, MATCHER)
    engine = CountingInk()
    found = every_frame(stack, header(), PixelConfig(), engine)
    assert engine.calls == single.calls
    assert found.frames_checked == 75


def test_moving_bright_speckle_in_the_ultrasound_region_does_not_make_every_frame_read() -> None:
    rng = np.random.default_rng(4)
    stack = []
    for _ in range(60):
        frame = anatomy(rng)
        echoes = rng.random((ROWS, COLS)) < 0.02  # bright echoes, somewhere else each frame
        frame[40:200, 60:260][echoes[40:200, 60:260]] = 255
        write(frame, (8, 6), "DOE^JANE 12345")
        stack.append(frame)
    engine = CountingInk()
    found = every_frame(stack, header(regions=[(60, 40, 259, 199)]), PixelConfig(samples=1), engine)
    assert found.frames_checked == 59
    assert found.frames_searched == 1


def test_a_dim_overlay_that_changes_on_a_sampled_frame_is_read_there() -> None:
    stack, _ = cine(9)
    dim = write(stack[8], (8, 212), "MRN 5521", value=110)  # grey, below the ink level
    engine = CountingInk()
    found = detect_phi_boxes(
        lambda i: stack[i], header(), len(stack), PixelConfig(samples=3), engine, MATCHER
    )
    assert covers(found.boxes, dim)


def test_each_box_names_every_distinct_finder_once_with_its_best_confidence() -> None:
    box = BBox(10, 10, 50, 12)
    found = [
        (BBox(12, 10, 20, 12), BoxOrigin("ocr:tesseract", "margins", "date", 0.6, 4)),
        (BBox(35, 10, 20, 12), BoxOrigin("ocr:tesseract", "margins", "date", 0.9, 2)),
        (BBox(35, 10, 20, 12), BoxOrigin("ocr:tesseract", "margins", "header-value", 0.5, 0)),
        (BBox(200, 10, 20, 12), BoxOrigin("ocr:tesseract", "margins", "phone", 0.9, 0)),
    ]
    (origins,) = origins_of([box], found)
    assert origins == (
        BoxOrigin("ocr:tesseract", "margins", "date", 0.9, 2),
        BoxOrigin("ocr:tesseract", "margins", "header-value", 0.5, 0),
    )
    assert BoxOrigin.from_json(origins[0].to_json()) == origins[0]


def _run(tmp_path: Path, engine: str, *extra: str, out: str = "out") -> int:
    from dicomscrub.cli import main

    return main(
        ["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / out),
         "--headers", str(tmp_path / f"hdr-{out}"), "--jobs", "1", "--no-progress",
         "--ocr-engine", engine, *extra]
    )  # fmt: skip


def test_exported_templates_redact_the_same_boxes_without_reading_text(
    tmp_path: Path, fake_engines: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from dicomscrub.batch import worker
    from dicomscrub.cli import main
    from dicomscrub.pixels.templates import load_templates

    _text_on_black(tmp_path)
    assert _run(tmp_path, fake_engines[0]) == 0
    file = tmp_path / "templates.toml"
    assert main(["templates", "export", "--headers", str(tmp_path / "hdr-out"),
                 "--out", str(file)]) == 0  # fmt: skip
    learned = json.loads((tmp_path / "hdr-out" / "look.dcm_bboxes.json").read_text())
    (signature,) = load_templates(file).boxes
    assert signature == learned["transducer_signature"]
    assert [b.to_json() for b in load_templates(file).boxes[signature]] == [
        {k: b[k] for k in ("left", "top", "width", "height")} for b in learned["boxes"]
    ]

    searches: list[int] = []
    real = worker.detect_phi_boxes

    def counted(*args: object, **kwargs: object) -> object:
        searches.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "detect_phi_boxes", counted)
    assert _run(tmp_path, fake_engines[0], "--templates", str(file), out="again") == 0
    assert len(searches) == 1  # the second look only: the template needed no reading
    again = json.loads((tmp_path / "hdr-again" / "look.dcm_bboxes.json").read_text())
    assert [{k: b[k] for k in ("left", "top", "width", "height")} for b in again["boxes"]] == [
        {k: b[k] for k in ("left", "top", "width", "height")} for b in learned["boxes"]
    ]
    assert {o["source"] for b in again["boxes"] for o in b["origins"]} == {"template"}
    first = pydicom.dcmread(tmp_path / "out" / "look.dcm").pixel_array
    second = pydicom.dcmread(tmp_path / "again" / "look.dcm").pixel_array
    assert np.array_equal(first, second)


def test_text_a_template_misses_is_redacted_after_the_second_look_reads_it(
    tmp_path: Path, fake_engines: tuple[str, str]
) -> None:
    import json

    _text_on_black(tmp_path)
    assert _run(tmp_path, fake_engines[0]) == 0
    signature = json.loads((tmp_path / "hdr-out" / "look.dcm_bboxes.json").read_text())[
        "transducer_signature"
    ]
    file = tmp_path / "templates.toml"
    file.write_text(  # the top line only: the date line at the bottom stays readable
        f"[[template]]\nsignature = {json.dumps(signature)}\n"
        "boxes = [{ left = 0, top = 0, width = 256, height = 30 }]\n"
    )
    assert _run(tmp_path, fake_engines[0], "--templates", str(file), out="again") == 0
    side = json.loads((tmp_path / "hdr-again" / "look.dcm_bboxes.json").read_text())
    late = [b for b in side["boxes"] if b["top"] > 64]
    assert late and all(o["source"].endswith("(second look)") for b in late for o in b["origins"])
    pixels = pydicom.dcmread(tmp_path / "again" / "look.dcm").pixel_array
    assert int(pixels[100:124].max()) == 0  # the date line is gone
    assert int(pixels[:30].max()) == 0  # and the template's line


@pytest.mark.parametrize(
    "text",
    [
        "[[template]]\nboxes = []\n",
        '[[template]]\nsignature = "x"\nboxes = [{ left = 0, top = 0, width = 0, height = 4 }]\n',
        '[[template]]\nsignature = "x"\nboxes = [{ left = 0 }]\n',
        "not toml [",
    ],
    ids=["no signature", "empty box", "missing corner", "not toml"],
)
def test_a_broken_templates_file_stops_the_run_before_any_work(
    tmp_path: Path, fake_engines: tuple[str, str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _text_on_black(tmp_path)
    file = tmp_path / "templates.toml"
    file.write_text(text)
    assert _run(tmp_path, fake_engines[0], "--templates", str(file)) == 2
    assert "templates" in capsys.readouterr().err
    assert not (tmp_path / "out" / "look.dcm").exists()


def _big_text(frame: np.ndarray, xy: tuple[int, int], text: str, size: int = 22) -> BBox:
    """Burn ``text`` in a scalable font (white) into a uint8 frame; return its ink box."""
    from PIL import ImageFont

    mask = Image.new("L", (frame.shape[1], frame.shape[0]), 0)
    ImageDraw.Draw(mask).text(xy, text, fill=255, font=ImageFont.load_default(size=size))
    ink = np.asarray(mask) > 127
    frame[ink] = 255
    ys, xs = np.nonzero(ink)
    return BBox(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


@needs_rapidocr
def test_a_name_in_the_middle_of_the_frame_goes_and_clinical_text_there_stays() -> None:
    from dicomscrub.pixels.ocr import base

    rows, cols = 480, 640
    frame = np.zeros((rows, cols), dtype=np.uint8)
    frame[60:420, 80:560] = np.random.default_rng(1).integers(40, 70, (360, 480), np.uint8)
    name = _big_text(frame, (220, 200), "GARLAND")
    clinical = _big_text(frame, (220, 280), "5.2 cm")
    ds = header()
    ds.Rows, ds.Columns = rows, cols
    matcher = PhiMatcher.from_header(["GARLAND^JUDY"], ["4471920"], ["20240318"])
    config = PixelConfig(ocr_engine="rapidocr")  # all-text margins, the middle under phi
    engine = base.get_engine(config)
    reader = base.get_engine(PixelConfig(ocr_engine="rapidocr", redact="phi"))

    def search(config: PixelConfig) -> Detection:
        return detect_phi_boxes(lambda i: frame, ds, 1, config, engine, matcher, reader=reader)

    found = search(config)
    assert covers(found.boxes, name)
    assert not any(b.intersection(clinical) for b in found.boxes)
    origins = {o for b, os in zip(found.boxes, found.origins, strict=True) for o in os}
    assert {(o.area, o.source) for o in origins} == {("middle", "ocr:rapidocr")}
    assert not search(PixelConfig(ocr_engine="rapidocr", margins_only=True)).boxes


def test_blocks_of_strokes_leave_empty_and_flat_parts_of_the_frame_out() -> None:
    from dicomscrub.pixels.candidates import stroke_blocks

    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    frame[100:200, 100:300] = 90  # a flat banner: no strokes
    first = write(frame, (10, 10), "ID 4711")
    second = write(frame, (200, 210), "DOE")
    searched = np.ones((ROWS, COLS), dtype=bool)
    blocks = stroke_blocks(frame, searched)
    assert len(blocks) == 2
    assert all(any(b.intersection(ink) == ink.area for b in blocks) for ink in (first, second))
    assert sum(b.area for b in blocks) < 0.1 * ROWS * COLS
    searched[:, 160:] = False  # strokes outside the searched pixels start no block
    assert [b for b in stroke_blocks(frame, searched) if b.intersection(second)] == []


def test_packed_blocks_get_back_their_own_words_even_when_a_line_spans_two() -> None:
    from dicomscrub.pixels.candidates import read_blocks

    images = [np.full((30, 120), 255, np.uint8), np.full((50, 80), 255, np.uint8)]
    images[0][10:20, 10:100] = 0
    images[1][20:30, 5:60] = 0
    seen: list[tuple[int, int]] = []

    def one_line_over_everything(canvas: np.ndarray) -> list[OcrWord]:
        seen.append(canvas.shape)
        return [OcrWord("x", BBox(0, 0, canvas.shape[1], canvas.shape[0]), 0.9, 0)]

    words = read_blocks(one_line_over_everything, images)
    assert len(seen) == 1  # both blocks on one canvas
    # A box that runs over both blocks is cut back to each block's own area.
    assert [w.box for w in words[0]] == [BBox(0, 0, 120, 30)]
    assert [w.box for w in words[1]] == [BBox(0, 0, 80, 50)]


def test_a_block_too_large_for_one_canvas_is_cut_into_overlapping_pieces() -> None:
    from dicomscrub.pixels.candidates import MAX_CANVAS_PX, split_box

    box = BBox(10, 20, 1500, 300)
    pieces = split_box(box, 2, 8)
    assert len(pieces) > 1
    assert all((p.width + 16) * 2 <= MAX_CANVAS_PX and (p.height + 16) * 2 <= MAX_CANVAS_PX
               for p in pieces)  # fmt: skip
    cover = np.zeros((400, 1600), dtype=bool)
    for p in pieces:
        cover[p.y : p.bottom, p.x : p.right] = True
    assert cover[20:320, 10:1510].all() and cover.sum() == 1500 * 300
    assert all(a.intersection(b) for a, b in itertools.pairwise(pieces))  # seams overlap
    assert split_box(BBox(0, 0, 200, 100), 2, 8) == [BBox(0, 0, 200, 100)]


def test_red_text_on_a_light_grey_ground_is_a_block_of_strokes() -> None:
    from dicomscrub.pixels.candidates import prepare_block, stroke_blocks

    frame = np.full((ROWS, COLS, 3), 238, dtype=np.uint8)
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    ink = write(mask, (40, 100), "DOB 29.03.1989")
    frame[mask > 0] = (220, 40, 40)  # as bright as the ground in its red channel
    blocks = stroke_blocks(frame, np.ones((ROWS, COLS), dtype=bool))
    assert [b for b in blocks if b.intersection(ink) == ink.area]
    block = prepare_block(frame, blocks[0], 1, 0)
    assert block is not None
    assert int(block.image.min()) < 64 and float(np.median(block.image)) > 192  # dark on white


class Proposing:
    """A fake line finder with a lenient first pass: proposes one line near the top left
    of whatever it is shown, and reads every canvas as one line of ``text``."""

    name = "proposing"

    def __init__(self, text: str, score: float) -> None:
        self.text, self.score = text, score

    def propose(self, image: np.ndarray) -> list[BBox]:
        return [BBox(20, 12, 60, 12)]

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        h, w = image.shape
        return [OcrWord(self.text, BBox(w // 4, h // 4, w // 2, h // 2), self.score, 0)]


@pytest.mark.parametrize(("text", "score", "kept"), [("", 0.0, False), ("ID 4711", 0.9, True),
                                                     ("ID 4711", 0.2, False)])  # fmt: skip
def test_a_line_found_in_texture_goes_only_if_it_reads_as_text(
    text: str, score: float, kept: bool
) -> None:
    frame = np.random.default_rng(2).integers(0, 256, (ROWS, COLS), dtype=np.uint8)  # speckle
    engine = Proposing(text, score)
    found = detect_phi_boxes(lambda i: frame, header(), 1, PixelConfig(), engine, MATCHER)
    assert bool(found.boxes) == kept
    if not kept:
        assert dict(found.rules) == {"texture, not text": 1}


def test_a_light_plate_in_speckle_is_found_and_speckle_alone_has_none() -> None:
    from dicomscrub.pixels.candidates import light_plates

    frame = np.random.default_rng(3).integers(0, 200, (ROWS, COLS), dtype=np.uint8)
    whole = BBox(0, 0, COLS, ROWS)
    assert light_plates(frame, whole, ROWS * COLS) == []
    frame[100:120, 60:200] = 225  # a light plate over the speckle
    ink = write(frame, (66, 104), "Accession 32297064", value=20)
    plates = light_plates(frame, whole, ROWS * COLS)
    assert len(plates) == 1 and plates[0].intersection(ink) == ink.area
    assert light_plates(frame, whole, 100) == []  # larger than asked for: a ground, not a plate


def test_coloured_ink_in_grey_speckle_is_a_block_of_its_own() -> None:
    from dicomscrub.pixels.candidates import coloured_ink

    grey = np.random.default_rng(4).integers(0, 256, (ROWS, COLS), dtype=np.uint8)
    frame = np.repeat(grey[..., None], 3, axis=2)  # grey speckle: no colour at all
    whole = BBox(0, 0, COLS, ROWS)
    assert coloured_ink(frame, whole, ROWS * COLS) == []
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    ink = write(mask, (120, 150), "PT633735")
    frame[mask > 0] = (0, 255, 255)  # small cyan text over the speckle
    blocks = coloured_ink(frame, whole, ROWS * COLS)
    assert len(blocks) == 1 and blocks[0].intersection(ink) == ink.area
    assert coloured_ink(frame[..., 0], whole, ROWS * COLS) == []  # grey images: none


def test_a_line_box_is_fitted_to_its_ink_within_its_reach() -> None:
    from dicomscrub.pixels.candidates import FIT_MARGIN_ACROSS_PX, FIT_MARGIN_PX, fit_to_ink

    def margins(box: BBox, dx: int, dy: int) -> BBox:
        return BBox(box.x - dx, box.y - dy, box.width + 2 * dx, box.height + 2 * dy)

    frame = np.random.default_rng(5).integers(0, 12, (ROWS, COLS), dtype=np.uint8)  # dark noise
    above = _big_text(frame, (60, 78), "DOE", size=14)
    ink = _big_text(frame, (60, 100), "ID 4711", size=16)
    assert ink.y - above.bottom >= 2 * FIT_MARGIN_PX + 1  # near: inside the reach below
    # A detector's box: loose above and below, and short of the last glyph.
    line = BBox(ink.x - 3, ink.y - 6, ink.width - 3, ink.height + 12)
    fitted = fit_to_ink(frame, line, 8)
    assert fitted.intersection(ink) == ink.area  # all of the line's ink, the cut glyph too
    # Two pixels past the ends of the line, one above and below it.
    assert margins(ink, FIT_MARGIN_PX, FIT_MARGIN_ACROSS_PX).intersection(fitted) == fitted.area
    # An engine may ask for more above and below (Tesseract's second look reads soft
    # edge rows).
    wider = fit_to_ink(frame, line, 8, margin_across=FIT_MARGIN_ACROSS_PX + 1)
    assert (wider.y, wider.height) == (fitted.y - 1, fitted.height + 2)
    assert not fitted.intersection(above)  # the line above is not this line
    assert fit_to_ink(np.zeros_like(frame), line, 8) == line.expanded(8, ROWS, COLS)  # no ink
    # On a cine the whole reach along the text stays: a counter may grow by a digit.
    cine = fit_to_ink(frame, line, 8, along=True)
    grown = line.expanded(8, ROWS, COLS)
    assert (cine.x, cine.right, cine.y, cine.bottom) == (
        grown.x,
        grown.right,
        fitted.y,
        fitted.bottom,
    )
    # An upright line is fitted along its columns.
    upright = np.ascontiguousarray(np.rot90(frame))
    turned = BBox(ink.y, COLS - ink.right, ink.height, ink.width)
    loose = BBox(turned.x - 6, turned.y - 3, turned.width + 12, turned.height - 3)
    fitted = fit_to_ink(upright, loose, 8)
    assert fitted.intersection(turned) == turned.area
    assert margins(turned, FIT_MARGIN_ACROSS_PX, FIT_MARGIN_PX).intersection(fitted) == fitted.area


def test_a_line_is_fitted_in_pieces_at_empty_runs_between_its_fields() -> None:
    from dicomscrub.pixels.candidates import FAINT_INK, PIECE_GAP, fit_pieces, fit_to_ink

    frame = np.random.default_rng(7).integers(0, 6, (ROWS, COLS), dtype=np.uint8)
    name = _big_text(frame, (20, 100), "DOE", size=16)
    ident = _big_text(frame, (name.right + 40, 100), "4711", size=16)
    word = _big_text(frame, (20, 150), "DOE-MILLER", size=16)
    line = BBox.enclosing([name, ident]).expanded(3, ROWS, COLS)
    pieces = fit_pieces(frame, line, 8)
    assert len(pieces) == 2
    for piece, ink in zip(sorted(pieces, key=lambda b: b.x), (name, ident), strict=True):
        assert piece.intersection(ink) == ink.area  # each piece holds its field's ink
    gap = BBox(name.right + 3, name.y, ident.x - name.right - 6, name.height)
    assert not any(p.intersection(gap) for p in pieces)  # and the empty run between stays
    # The pieces hold what the whole fitted box holds of the line's ink, in less area.
    whole = fit_to_ink(frame, line, 8)
    assert sum(p.area for p in pieces) < whole.area
    # The room between the letters of a word is no gap: one piece.
    assert ident.x - name.right > PIECE_GAP * name.height > 0
    assert len(fit_pieces(frame, word.expanded(3, ROWS, COLS), 8)) == 1
    # Faint strokes in the run (a dim glyph the ink level misses) keep it whole.
    dim = frame.copy()
    dim[gap.y + 4 : gap.bottom - 4, gap.x + 20 : gap.x + 22] = FAINT_INK + 6
    assert len(fit_pieces(dim, line, 8)) == 1


class WholeBlock:
    """A fake engine that finds one loose line over all of whatever it is shown."""

    name = "whole-block"

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        h, w = image.shape
        return [OcrWord("", BBox(0, 0, w, h), 1.0, 0)]


def test_redaction_boxes_hug_the_ink_unless_whole_boxes_are_asked_for() -> None:
    from dicomscrub.pixels.candidates import FIT_MARGIN_ACROSS_PX

    frame = np.random.default_rng(6).integers(0, 12, (ROWS, COLS), dtype=np.uint8)
    ink = _big_text(frame, (20, 10), "SMITH JOHN", size=14)
    engine = WholeBlock()
    fitted = detect_phi_boxes(lambda i: frame, header(), 1, PixelConfig(), engine, MATCHER)
    assert len(fitted.boxes) == 1 and covers(fitted.boxes, ink)
    assert fitted.boxes[0].height <= ink.height + 2 * FIT_MARGIN_ACROSS_PX  # tight across it
    whole = PixelConfig(fit_ink=False)
    loose = detect_phi_boxes(lambda i: frame, header(), 1, whole, engine, MATCHER)
    assert len(loose.boxes) == 1 and loose.boxes[0].area > 2 * fitted.boxes[0].area


def test_a_block_read_once_is_not_read_again_by_the_same_engine() -> None:
    from dicomscrub.pixels.candidates import prepare_block
    from dicomscrub.pixels.detect import read_remembered

    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    write(frame, (20, 20), "ID 4711")
    write(frame, (20, 120), "DOE")
    first, second = (
        prepare_block(frame, b, 2, 8) for b in (BBox(14, 14, 60, 22), BBox(14, 114, 40, 22))
    )
    assert first is not None and second is not None
    engine = CountingInk()
    words = read_remembered(engine, [first])
    assert engine.calls == 1 and words[0]
    # The same block again costs nothing; a new one is read on its own.
    assert read_remembered(engine, [first, second])[0] == words[0] and engine.calls == 2
    assert read_remembered(engine, [second, first]) and engine.calls == 2
    write(frame, (60, 20), "9")  # the first block's pixels change: it is read again
    changed = prepare_block(frame, BBox(14, 14, 60, 22), 2, 8)
    assert changed is not None and read_remembered(engine, [changed]) and engine.calls == 3
    other = CountingInk()
    assert read_remembered(other, [first]) == words and other.calls == 1  # reads for itself


def test_a_dim_part_of_a_line_inside_the_detectors_box_is_covered_on_a_noisy_ground() -> None:
    from dicomscrub.pixels.candidates import fit_to_ink

    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    label = write(frame, (40, 100), "ID")
    value = write(frame, (60, 100), "4711", value=60)  # dimmer than the noise level allows
    line = BBox(label.x - 8, label.y - 6, value.right + 8 - (label.x - 8), label.height + 12)
    ground = (np.indices((ROWS, COLS)).sum(axis=0) % 2 * 50).astype(np.uint8)  # fine noise
    band = slice(line.y, line.bottom)
    ground[band] = 0
    frame |= ground
    fitted = fit_to_ink(frame, line, 8)
    assert fitted.intersection(value) == value.area
    assert fitted.intersection(label) == label.area
    # An engine whose boxes end at the glyphs (Tesseract) covers a dim last glyph too.
    tight = BBox(label.x, line.y, value.right - label.x, line.height)
    assert fit_to_ink(frame, tight, 8).intersection(value) < value.area  # PP-OCR's overshoot
    assert fit_to_ink(frame, tight, 8, slack=0.0).intersection(value) == value.area


def test_a_line_from_texture_that_runs_to_the_edge_of_its_look_is_looked_at_past_it() -> None:
    from dicomscrub.pixels.candidates import prepare_block
    from dicomscrub.pixels.detect import _Queued, _Search

    frame = np.random.default_rng(8).integers(0, 256, (ROWS, COLS), dtype=np.uint8)
    config = PixelConfig()
    areas = search_areas(header(), ROWS, COLS, config)
    engine = CountingInk()
    search = _Search(areas, config, engine, engine, MATCHER, ROWS, COLS)
    look = BBox(100, 90, 80, 30)
    block = prepare_block(frame, look, 2, 8)
    assert block is not None

    def past(line: BBox, along: int = 0, phi: bool = False) -> list[BBox]:
        search.pending = []
        queued = _Queued(block, 0, "margins", "all-text", frame, True, along)
        search._look_along(queued, line, phi)
        return [q.block.box for q in search.pending]

    assert past(BBox(120, 100, 40, 12)) == []  # well inside the look: nothing more to see
    # A line that holds PHI is looked at past both ends wherever it lies: its last words
    # may be what the detector did not find.
    both = past(BBox(120, 102, 40, 11), phi=True)
    assert len(both) == 2 and min(b.x for b in both) < 120 and max(b.right for b in both) > 160
    left = past(BBox(101, 100, 40, 12))
    assert len(left) == 1 and left[0].x < 101 - 30 and left[0].right >= 141  # the line too
    right = past(BBox(140, 100, 39, 12))
    assert len(right) == 1 and right[0].right > 179 + 30 and right[0].x <= 140
    assert past(BBox(101, 100, 40, 12), along=1) == []  # a look already taken is not again


def test_a_piece_that_reads_poorly_beside_a_line_from_texture_goes_with_it() -> None:
    from dicomscrub.pixels.candidates import prepare_block
    from dicomscrub.pixels.detect import _Queued, _Search

    frame = np.random.default_rng(9).integers(0, 256, (ROWS, COLS), dtype=np.uint8)
    config = PixelConfig(fit_ink=False, expand_px=0)
    areas = search_areas(header(), ROWS, COLS, config)
    search = _Search(areas, config, InkEngine(), InkEngine(), MATCHER, ROWS, COLS)
    block = prepare_block(frame, BBox(0, 0, 120, 40), 1, 0)
    assert block is not None
    q = _Queued(block, 0, "margins", "all-text", frame, True, 2)
    read = OcrWord("DOE JANE", BBox(10, 10, 60, 12), 0.9, 0)
    beside = OcrWord("", BBox(74, 10, 20, 12), 0.1, 1)  # the detector cut the line here
    apart = OcrWord("", BBox(10, 26, 20, 12), 0.1, 2)  # the next row: speckle, stays
    search._keep_lines(q, [read, beside, apart])
    assert [b for b, _ in search.found] == [BBox(10, 10, 84, 12)]


def test_a_clock_changing_inside_its_box_on_later_samples_is_not_read_again() -> None:
    rng = np.random.default_rng(3)
    stack = []
    for _ in range(9):
        frame = anatomy(rng)
        write(frame, (8, 6), "DOE^JANE 12345")
        write(frame, (200, 6), "".join(rng.choice(list("ABCDEFGHKMWX"), 9)))  # a clock
        stack.append(frame)

    def search(samples: int) -> Detection:
        config = PixelConfig(samples=samples)
        return detect_phi_boxes(lambda i: stack[i], header(), 9, config, CountingInk(), MATCHER)

    once = search(1).regions_read
    found = search(3)
    assert found.frames_searched >= 2  # the clock's new strokes make later samples looked at
    assert found.regions_read == once  # but what changed lies in a box found already
    clock = found.boxes[-1]
    before = stack[4].copy()
    write(stack[4], (clock.right + 2, 6), "W")  # the clock grows by a glyph past its box
    assert search(3).regions_read == once + 1
    stack[4] = before
    late = np.zeros_like(stack[8])
    ink = write(late, (200, 30), "ACC 4711")  # new text elsewhere on the last sample is read
    stack[8] = np.maximum(stack[8], late)
    found = search(3)
    assert found.regions_read == once + 1 and covers(found.boxes, ink)


def deep_grey(
    photometric: str, *, window: tuple[str, str] | None, metal: bool = True
) -> tuple[np.ndarray, Dataset, BBox]:
    """A 12-bit CT frame whose annotation (300 HU) lies over soft tissue in the top
    margin while metal (3000 HU) sets the top of the range; stored MONOCHROME1 as the
    inverse of the values."""
    rng = np.random.default_rng(11)
    hu = np.full((ROWS, COLS), -1000, dtype=np.int32)  # air above the body
    hu[12:, :] = 40 + rng.integers(-15, 16, (ROWS - 12, COLS))
    if metal:
        hu[150:160, 150:160] = 3000
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    ink = _big_text(mask, (30, 24), "DOE^JOHN 4711", size=14)
    hu[mask > 0] = 300
    stored = hu + 1024
    if photometric == "MONOCHROME1":
        stored = 4095 - stored
    ds = header()
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = (
        ("-1024", "1") if photometric == "MONOCHROME2" else ("3071", "-1")
    )
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    return stored.astype(np.uint16), ds, ink


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_text_over_anatomy_in_deep_grey_data_is_found_through_the_files_window(
    photometric: str,
) -> None:
    from dicomscrub.pixels.detect import stroke_mask
    from dicomscrub.pixels.render import ocr_views, to_display

    frame, ds, ink = deep_grey(photometric, window=("40", "400"))
    # Over the frame's own range the text is a few levels above the tissue: no strokes.
    assert not stroke_mask(to_display(frame, ds))[ink.y : ink.bottom, ink.x : ink.right].any()
    views = ocr_views(frame, ds)
    assert len(views) == 2
    assert views[1][ink.y + ink.height // 2, :].max() == 255  # white, as a viewer shows it
    found = detect_phi_boxes(lambda i: frame, ds, 1, PixelConfig(), InkEngine(), MATCHER)
    assert covers(found.boxes, ink)
    assert found.frames_searched == 1  # one frame, in two views


def test_a_hot_pixel_does_not_hide_the_text_of_a_frame_without_a_window() -> None:
    frame, ds, ink = deep_grey("MONOCHROME2", window=None, metal=False)
    frame = frame.copy()
    frame[200, 300] = 4095 * 16  # one pixel far above everything else (16 bits stored)
    ds.BitsStored, ds.HighBit = 16, 15
    found = detect_phi_boxes(lambda i: frame, ds, 1, PixelConfig(), InkEngine(), MATCHER)
    assert covers(found.boxes, ink)


def test_eight_bit_frames_and_windows_that_span_the_data_are_searched_in_one_view() -> None:
    from dicomscrub.pixels.render import ocr_views

    frame, ds, _ = deep_grey("MONOCHROME2", window=("2048", "4096"))
    ds.RescaleIntercept = "0"
    assert len(ocr_views(frame, ds)) == 1
    eight = (frame >> 4).astype(np.uint8)
    assert len(ocr_views(eight, ds)) == 1


class LabelAndDate(InkEngine):
    """The ink engine reading each run of ink on a band as one word: short runs as a
    label it misread (``b .``), long ones as a date."""

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        words = []
        for band in super().read_words(image):
            b = band.box
            cols = np.flatnonzero((image[b.y : b.bottom, b.x : b.right] < 128).any(axis=0))
            runs = np.split(cols, np.flatnonzero(np.diff(cols) > b.height) + 1)
            for run in runs:
                box = BBox(b.x + int(run[0]), b.y, int(run[-1] - run[0]) + 1, b.height)
                text = "b ." if box.width < 4 * box.height else "11/22/2013"
                words.append(OcrWord(text, box, 0.9, band.line))
        return words


def test_a_label_read_in_another_block_goes_with_the_phi_value_beside_it() -> None:
    from dicomscrub.pixels.candidates import JOIN_COLS_PX, stroke_blocks

    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    label = _big_text(frame, (10, 12), "DOB:", size=28)
    date = _big_text(frame, (label.right + 2 * JOIN_COLS_PX + 2, 12), "11/22/2013", size=28)
    assert date.x - label.right <= 1.5 * date.height  # beside it
    assert len(stroke_blocks(frame, np.ones_like(frame, dtype=bool))) == 2  # in another block
    apart = _big_text(frame, (10, 64), "DOB:", size=28)  # a label alone stays
    config = PixelConfig(redact="phi")
    found = detect_phi_boxes(lambda i: frame, header(), 1, config, LabelAndDate(), MATCHER)
    assert covers(found.boxes, date) and covers(found.boxes, label)
    assert not any(b.intersection(apart) for b in found.boxes)


def test_a_line_centred_under_a_phi_line_goes_with_it_and_a_list_item_stays() -> None:
    from PIL import ImageFont

    font = ImageFont.load_default(size=16)
    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    # A banner: an institution's name (read as PHI) with its department centred under it;
    # its words stand wide apart, so the name goes in two pieces.
    name = _big_text(frame, (40, 12), "WESTWAY   MEDICAL", size=16)
    left, top, right, _ = font.getbbox("DEPT")
    centre = (name.x + name.right) // 2
    under = (centre - (right - left) // 2 - left, name.bottom + 3 - top)  # 3 px below
    dept = _big_text(frame, under, "DEPT", size=16)
    # A list: the same two lines, left-aligned.
    listed = _big_text(frame, (40, 170), "WESTWAY MEDICAL", size=16)
    item = _big_text(frame, (40, listed.bottom + 3 - top), "DEPT", size=16)
    config = PixelConfig(redact="phi")
    found = detect_phi_boxes(lambda i: frame, header(), 1, config, LabelAndDate(), MATCHER)
    assert covers(found.boxes, listed)
    words = [BBox(name.x, name.y, name.width // 3, name.height),
             BBox(name.right - name.width // 3, name.y, name.width // 3, name.height)]  # fmt: skip
    assert all(covers(found.boxes, w) for w in words) and not covers(found.boxes, name)
    assert covers(found.boxes, dept)
    assert not any(b.intersection(item) for b in found.boxes)


def test_banner_lines_are_stacked_close_centred_and_not_left_aligned() -> None:
    from dicomscrub.pixels.detect import _same_banner

    name = BBox(79, 0, 171, 12)
    assert _same_banner(name, BBox(108, 10, 102, 16))  # loose boxes overlapping a little
    assert _same_banner(name, BBox(110, 14, 100, 12))
    assert not _same_banner(name, BBox(110, 4, 100, 12))  # the same row
    assert not _same_banner(name, BBox(110, 24, 100, 12))  # a line apart
    assert not _same_banner(name, BBox(79, 14, 171, 12))  # left-aligned: a list
    assert not _same_banner(name, BBox(20, 14, 60, 12))  # not centred
    assert not _same_banner(name, BBox(140, 14, 40, 5))  # much smaller text


def test_a_coloured_line_cut_short_in_grey_speckle_runs_on_over_its_colour() -> None:
    from dicomscrub.pixels.candidates import along_coloured_ink

    rng = np.random.default_rng(8)
    grey = rng.integers(0, 200, size=(ROWS, COLS), dtype=np.uint8)  # strong speckle
    frame = np.repeat(grey[..., None], 3, axis=2)
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    ink = _big_text(mask, (40, 100), "HILLCREST IMAGING", size=14)
    frame[mask > 0] = (40, 220, 60)  # green
    first = BBox(ink.x, ink.y, ink.width // 2, ink.height)  # the detector's short line
    assert along_coloured_ink(frame, first).intersection(ink) == ink.area
    assert along_coloured_ink(frame, first).width <= ink.width + 2
    # A grey image, or a coloured ground, says nothing about where the line goes on.
    assert along_coloured_ink(grey, first) == first
    tinted = frame.copy()
    tinted[..., 0] = 255  # a red ground all round
    assert along_coloured_ink(tinted, first) == first


def test_a_word_taken_beside_a_phi_line_does_not_take_its_own_neighbour() -> None:
    from dicomscrub.pixels.candidates import JOIN_COLS_PX

    frame = np.zeros((ROWS, COLS), dtype=np.uint8)
    step = 2 * JOIN_COLS_PX + 2  # each in a block of its own, within a word space
    date = _big_text(frame, (4, 12), "11/22/2013", size=28)
    first = _big_text(frame, (date.right + step, 12), "AB", size=28)
    second = _big_text(frame, (first.right + step, 12), "CD", size=28)
    assert second.x - first.right <= 1.5 * first.height
    config = PixelConfig(redact="phi")
    found = detect_phi_boxes(lambda i: frame, header(), 1, config, LabelAndDate(), MATCHER)
    assert covers(found.boxes, date) and covers(found.boxes, first)
    assert not any(b.intersection(second) for b in found.boxes)


def moving_speckle(frames: int, seed: int = 9) -> list[np.ndarray]:
    """Frames of grey speckle that changes from each frame to the next."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 160, (ROWS, COLS), dtype=np.uint8) for _ in range(frames)]


def test_on_later_samples_of_a_cine_only_what_stays_in_moving_speckle_is_looked_at() -> None:
    from dicomscrub.pixels.detect import _Search, steady_pixels

    stack = moving_speckle(9)
    for index in range(9):
        stack[index][100:120, 60:200] = 225  # a light plate on every frame
    for index in (3, 4, 5):
        text = _big_text(stack[index], (20, 10), "ID 4711", size=16)  # shown for 3 frames
    stack[4][160:180, 60:200] = 230  # speckle that happens to look flat on one frame
    config = PixelConfig()
    engine = CountingInk()
    search = _Search(search_areas(header(), ROWS, COLS, config), config, engine, engine,
                     MATCHER, ROWS, COLS, cine=True)  # fmt: skip
    search.steady[4] = steady_pixels(stack[4], [stack[3], stack[5]])
    speckle = BBox(150, 60, 80, 20)
    assert not search._moving(4, stack[4], text)  # text that stays over speckle: read
    assert search._moving(4, stack[4], speckle)  # a line taken from the speckle: not
    assert not search._moving(0, stack[0], speckle)  # on the first sample all is looked at
    assert search._plate_stays(4, BBox(60, 100, 140, 20))
    assert not search._plate_stays(4, BBox(60, 160, 140, 20))
    assert search._plate_stays(0, BBox(60, 160, 140, 20))


class CountingProposing(Proposing):
    def __init__(self, text: str, score: float) -> None:
        super().__init__(text, score)
        self.calls = 0

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        self.calls += 1
        return super().read_words(image)


def test_moving_speckle_makes_later_samples_of_a_cine_looked_at_but_not_read_again() -> None:
    stack = moving_speckle(20)
    single = CountingProposing("", 0.0)
    detect_phi_boxes(lambda i: stack[0], header(), 1, PixelConfig(), single, MATCHER)
    engine = CountingProposing("", 0.0)
    found = detect_phi_boxes(
        lambda i: stack[i], header(), len(stack), PixelConfig(samples=5), engine, MATCHER
    )
    assert found.frames_searched >= 3  # the speckle's new strokes made them looked at
    # But what the detector took from it moves: only the first sample and the median of
    # the samples (where the speckle is smoothed and an overlay stays) are read.
    assert engine.calls == single.calls + 1


def test_the_median_of_a_cines_samples_is_searched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomscrub.pixels import detect

    added: list[tuple[int, int, np.ndarray]] = []
    add = detect._Search.add

    def spy(self: detect._Search, index: int, display: np.ndarray, view: int = 0) -> None:
        added.append((index, view, display))
        add(self, index, display, view)

    monkeypatch.setattr(detect._Search, "add", spy)
    stack = moving_speckle(20)
    detect_phi_boxes(lambda i: stack[i], header(), 20, PixelConfig(samples=5), CountingInk(),
                     MATCHER)  # fmt: skip
    still = [(i, d) for i, v, d in added if v == detect.STILL_VIEW]
    assert len(still) == 1
    samples = np.stack([stack[i] for i in detect.sample_indices(20, 5)])
    assert np.array_equal(still[0][1], np.median(samples, axis=0).astype(np.uint8))
    added.clear()
    detect_phi_boxes(lambda i: stack[0], header(), 1, PixelConfig(), CountingInk(), MATCHER)
    assert [v for _, v, _ in added] == [0]  # one frame: nothing more


def test_a_proposed_line_found_on_an_earlier_frame_is_not_looked_at_again() -> None:
    from dicomscrub.pixels.detect import _Search

    config = PixelConfig()
    engine = CountingInk()
    search = _Search(search_areas(header(), ROWS, COLS, config), config, engine, engine,
                     MATCHER, ROWS, COLS, cine=True)  # fmt: skip
    origin = BoxOrigin("ocr:test", "margins", "all-text", 1.0, 0)
    assert not search._found_already(BBox(20, 10, 100, 20))  # nothing found yet
    search._found([BBox(24, 13, 92, 14)], origin)  # the line's ink, found on frame 0
    # The detector's box of the same line on a later frame overshoots the ink.
    assert search._found_already(BBox(20, 10, 100, 20))
    assert not search._found_already(BBox(20, 10, 130, 20))  # it grew past its box
