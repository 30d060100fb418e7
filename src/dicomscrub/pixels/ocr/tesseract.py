"""Tesseract through pytesseract (the only module that imports it)."""

from __future__ import annotations

import functools
import os
import shutil

import numpy as np

from dicomscrub.config import ORIGINAL_WHITELIST, PixelConfig
from dicomscrub.errors import EngineUnavailableError
from dicomscrub.models import BBox
from dicomscrub.pixels.ocr.base import OcrWord


def is_available() -> bool:
    """True when pytesseract imports and the tesseract binary is on PATH."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False
    return shutil.which("tesseract") is not None


class TesseractEngine:
    """Word boxes from ``tesseract`` (LSTM engine), page segmentation and whitelist tunable."""

    name = "tesseract"
    #: Its word boxes are the glyphs' own bounds: a line's box reaches its ends.
    line_overshoot = 0.0
    #: Pixels kept above and below a line's ink. Read by Tesseract, the soft edge rows
    #: that one pixel leaves on lossy or textured frames read as characters again at the
    #: second look (three files of the detection benchmark were withheld for it).
    fit_margin_across = 2

    def __init__(self, psm: int = 11, whitelist: str | None = None) -> None:
        # Files are processed in parallel already; Tesseract's own OpenMP threads only
        # contend with them (measured: 1.1 s -> 0.19 s for one 640-px-wide margin band).
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self._config = f"--oem 1 --psm {int(psm)}"
        if whitelist:
            if whitelist == "original":
                whitelist = ORIGINAL_WHITELIST
            self._config += f" -c tessedit_char_whitelist={whitelist}"

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        import pytesseract

        try:
            data = pytesseract.image_to_data(
                image, config=self._config, output_type=pytesseract.Output.DICT
            )
        except pytesseract.TesseractNotFoundError as exc:
            raise EngineUnavailableError("the tesseract binary is not on PATH") from exc
        words: list[OcrWord] = []
        line_ids: dict[tuple[int, int, int], int] = {}
        for i, text in enumerate(data["text"]):
            text = (text or "").strip()
            if not text:
                continue
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            line = line_ids.setdefault(key, len(line_ids))
            conf = float(data["conf"][i])
            words.append(
                OcrWord(
                    text=text,
                    box=BBox(
                        int(data["left"][i]),
                        int(data["top"][i]),
                        int(data["width"][i]),
                        int(data["height"][i]),
                    ),
                    confidence=max(0.0, min(1.0, conf / 100.0)),
                    line=line,
                )
            )
        return words


def create(config: PixelConfig) -> TesseractEngine:
    """The engine for the pixel configuration: one per setting and process, so that
    what it has read is remembered from file to file."""
    return _engine(config.tesseract_psm, config.tesseract_whitelist)


@functools.lru_cache(maxsize=4)
def _engine(psm: int, whitelist: str | None) -> TesseractEngine:
    return TesseractEngine(psm=psm, whitelist=whitelist)
