"""PP-OCR (DB text detection and CRNN recognition) through RapidOCR on ONNX Runtime.

The only module that imports ``rapidocr_onnxruntime``. Its wheel ships the detection,
direction and recognition models, so nothing is downloaded at run time. The models are
loaded once per process and reused for every file.

RapidOCR finds text *lines*; each line becomes one or more :class:`OcrWord` sharing a
line number. The recogniser often drops the spaces between words, so a line may come
back as one run-together word; the PHI rules look for header values inside words for
that reason. Where it does keep spaces, each word gets the part of the line box that its
characters take up.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from typing import Any

import numpy as np

from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox
from dicomscrub.pixels.ocr.base import OcrWord


def is_available() -> bool:
    """True when ``rapidocr_onnxruntime`` (and so ONNX Runtime) can be imported."""
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    # One ONNX Runtime thread: files are processed in parallel already (--jobs).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from rapidocr_onnxruntime import RapidOCR

    # Every line found is returned: the PHI rules, not the engine, decide what a weak
    # reading means (dicomscrub redacts by line box, so a misread line still goes).
    # The detector works at the image's own scale (our margin bands are wide and short;
    # scaling their short side up to 736 px, the default, costs seconds per band).
    return RapidOCR(
        text_score=0.0,
        det_limit_type="max",
        det_limit_side_len=2048,
        intra_op_num_threads=1,
        inter_op_num_threads=1,
    )


#: The detector's mean line score from which a line is found (its default); the weaker
#: one from which a line is read when it is read anyway (what it says decides, and text
#: crowded by other lines or texture scores low); and the weakest, from which a line is
#: worth a closer look.
BOX_SCORE = 0.5
READ_BOX_SCORE = 0.3
PROPOSAL_SCORE = 0.25


class RapidOcrEngine:
    """Line boxes and text from PP-OCR; confidences are the recogniser's scores.

    With ``recognise=False`` (``--redact all-text``, where what a line says decides
    nothing) only the detector runs: every line comes back as one empty word with
    confidence 1.0, in a tenth of the time.
    """

    name = "rapidocr"
    #: How far past a line's first and last glyphs its box reaches, as a share of the
    #: line's height (the detector grows every line it finds).
    line_overshoot = 0.3

    def __init__(self, *, recognise: bool = True) -> None:
        self.recognise = recognise

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        if image.ndim != 2:
            raise ValueError("the OCR input is one 8-bit grey image")
        pixels = np.ascontiguousarray(image)
        if not self.recognise:
            return [
                OcrWord("", box, 1.0, line) for line, box in enumerate(_lines(pixels, BOX_SCORE))
            ]
        result, _ = _model()(pixels, use_cls=False, **_settings(READ_BOX_SCORE))
        lines = [
            (_outward(points), str(text), float(score)) for points, text, score in result or ()
        ]
        lines = _read_upright_both_ways(pixels, lines)
        words: list[OcrWord] = []
        for line, (box, text, score) in enumerate(lines):
            confidence = max(0.0, min(1.0, score))
            words.extend(_split_line(text, box, confidence, line))
        return words

    def propose(self, image: np.ndarray) -> list[BBox]:
        """Where lines may be, found leniently (a weaker line score is enough), for a
        closer look at a larger scale: the cheap first pass over large textured areas."""
        return _lines(np.ascontiguousarray(image), PROPOSAL_SCORE)


#: A line at least this many times taller than wide is upright: text turned by a quarter
#: (RapidOCR's own test for turning a line before reading it).
UPRIGHT_RATIO = 1.5


def _upright(box: BBox) -> bool:
    return box.height >= UPRIGHT_RATIO * box.width


def _read_upright_both_ways(
    pixels: np.ndarray, lines: list[tuple[BBox, str, float]]
) -> list[tuple[BBox, str, float]]:
    """Read each upright line turned the other way too, and keep the reading that scores
    higher.

    RapidOCR turns an upright line a quarter anticlockwise before reading it, which
    reads text that was turned clockwise; text turned anticlockwise (reading upwards, as
    along the left edge of many images) comes out upside down and reads as nothing like
    itself. Its direction classifier would turn every line of every image; only upright
    lines need it, and they are few.
    """
    upright = [i for i, (box, _, _) in enumerate(lines) if _upright(box)]
    if not upright:
        return lines
    import cv2

    crops = []
    for i in upright:
        box = lines[i][0]
        crop = np.rot90(pixels[box.y : box.bottom, box.x : box.right], -1)
        crops.append(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_GRAY2BGR))
    readings, _ = _model().text_rec(crops)
    out = list(lines)
    for i, (text, score) in zip(upright, readings, strict=True):
        if float(score) > out[i][2]:
            out[i] = (out[i][0], str(text), float(score))
    return out


def _settings(box_score: float) -> dict[str, float]:
    # RapidOCR keeps these on the shared model between calls: every call sets them all.
    return {"box_thresh": box_score, "unclip_ratio": 1.6, "text_score": 0.0}


def _lines(pixels: np.ndarray, box_score: float) -> list[BBox]:
    found, _ = _model()(pixels, use_cls=False, use_rec=False, **_settings(box_score))
    return [_outward(points) for points in found or ()]


def _outward(points: Any) -> BBox:
    """The box of a detected line's corners, rounded outward to whole pixels, so that it
    covers all of the line's ink."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    return BBox(x0, y0, max(1, math.ceil(max(xs)) - x0), max(1, math.ceil(max(ys)) - y0))


def _split_line(text: str, box: BBox, confidence: float, line: int) -> list[OcrWord]:
    """The words of one recognised line, each with its share of the line's width (the
    first from the box's left edge, the last to its right edge). A line read as nothing
    is still one (empty) word: found text goes under ``--redact all-text`` whatever it
    was read as. The words of an upright line each get the whole of its box."""
    text = text.strip()
    parts = text.split()
    if len(parts) <= 1:
        return [OcrWord(text, box, confidence, line)]
    if _upright(box):  # the words run down or up: each gets it all
        return [OcrWord(part, box, confidence, line) for part in parts]
    total = len(text)
    words = []
    start = 0
    for part in parts:
        at = text.index(part, start)
        start = at + len(part)
        x0 = box.x + box.width * at // total
        x1 = box.x + box.width * start // total
        words.append(OcrWord(part, BBox(x0, box.y, max(1, x1 - x0), box.height), confidence, line))
    return words


def create(config: PixelConfig) -> RapidOcrEngine:
    """The engine (the models load on first use); lines are only detected, not read,
    when every line found goes anyway (``--redact all-text``). One engine per setting
    and process, so that what it has read is remembered from file to file."""
    return _engine(config.redact != "all-text")


@functools.lru_cache(maxsize=2)
def _engine(recognise: bool) -> RapidOcrEngine:
    return RapidOcrEngine(recognise=recognise)
