"""The PP-OCR engine (RapidOCR on ONNX Runtime): line boxes that cover their text."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

from dicomscrub.config import PixelConfig
from dicomscrub.errors import EngineUnavailableError
from dicomscrub.models import BBox
from dicomscrub.pixels.ocr import base
from dicomscrub.pixels.ocr.rapidocr import _split_line

needs_rapidocr = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None, reason="rapidocr not installed"
)


def _rendered(lines: list[tuple[int, str]], size: tuple[int, int] = (120, 640)) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (size[1], size[0]), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=22)
    for y, text in lines:
        draw.text((12, y), text, fill=0, font=font)
    return np.array(image)


@needs_rapidocr
def test_every_line_is_found_and_its_box_covers_the_ink() -> None:
    image = _rendered([(10, "DOE^JOHN  ID 4471920"), (60, "03/18/2024 12:01")])
    engine = base.get_engine(PixelConfig(ocr_engine="rapidocr", redact="phi"))
    words = engine.read_words(image)
    assert {w.line for w in words} == {0, 1}
    text = "".join(w.text for w in words).replace(" ", "")
    assert "4471920" in text and "03/18/2024" in text
    ink_rows, ink_cols = np.nonzero(image < 128)
    covered = np.zeros_like(image, dtype=bool)
    for word in words:
        covered[word.box.y : word.box.bottom, word.box.x : word.box.right] = True
    assert covered[ink_rows, ink_cols].mean() >= 0.98


@needs_rapidocr
def test_in_all_text_mode_lines_are_only_detected_with_the_same_boxes() -> None:
    image = _rendered([(10, "DOE^JOHN  ID 4471920"), (60, "03/18/2024 12:01")])
    reading = base.get_engine(PixelConfig(ocr_engine="rapidocr", redact="phi"))
    detecting = base.get_engine(PixelConfig(ocr_engine="rapidocr", redact="all-text"))
    read, found = reading.read_words(image), detecting.read_words(image)
    assert [w.text for w in found] == ["", ""]  # nothing was read: nothing to leak either
    for line in (0, 1):
        boxes = [w.box for w in read if w.line == line]
        union = boxes[0]
        for box in boxes[1:]:
            union = union.union(box)
        assert [w.box for w in found if w.line == line] == [union]


@needs_rapidocr
def test_a_blank_image_has_no_words() -> None:
    engine = base.get_engine(PixelConfig(ocr_engine="rapidocr"))
    assert engine.read_words(np.full((64, 256), 255, np.uint8)) == []


def test_a_spaced_line_is_split_into_words_that_share_its_box() -> None:
    words = _split_line("ID 123 DOE", BBox(0, 5, 100, 10), 0.9, 3)
    assert [w.text for w in words] == ["ID", "123", "DOE"]
    assert all(w.line == 3 and w.box.y == 5 and w.box.height == 10 for w in words)
    assert words[0].box.x == 0 and words[-1].box.right == 100
    assert all(a.box.right <= b.box.x for a, b in itertools.pairwise(words))


def test_a_missing_rapidocr_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomscrub.pixels.ocr import rapidocr

    monkeypatch.setattr(rapidocr, "is_available", lambda: False)
    with pytest.raises(EngineUnavailableError, match=r"pip install rapidocr_onnxruntime"):
        base.get_engine(PixelConfig(ocr_engine="rapidocr"))


@needs_rapidocr
@pytest.mark.parametrize("turn", [1, 3])
def test_a_line_turned_by_a_quarter_either_way_is_read(turn: int) -> None:
    image = np.ascontiguousarray(np.rot90(_rendered([(40, "DOE^JOHN 4471920")], (100, 300)), turn))
    engine = base.get_engine(PixelConfig(ocr_engine="rapidocr", redact="phi"))
    words = engine.read_words(image)
    text = "".join(w.text for w in words).replace(" ", "")
    assert "4471920" in text
    ink_rows, ink_cols = np.nonzero(image < 128)
    covered = np.zeros_like(image, dtype=bool)
    for word in words:
        covered[word.box.y : word.box.bottom, word.box.x : word.box.right] = True
    assert covered[ink_rows, ink_cols].mean() >= 0.98
