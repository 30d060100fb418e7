"""Shared fixtures: a fake OCR engine, the realdata folder, run helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox
from dicomscrub.pixels.ocr import base
from dicomscrub.pixels.ocr.base import OcrWord

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


class InkEngine:
    """A fake OCR engine: every band of dark ink on the light OCR input is one PHI 'word'.

    It lets pipeline tests run without Tesseract and makes every text line count as PHI
    (the word text is a date), so they test geometry, not recognition.
    """

    name = "ink"

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        ink = image < 128
        rows = np.flatnonzero(ink.any(axis=1))
        words: list[OcrWord] = []
        if rows.size == 0:
            return words
        bands: list[tuple[int, int]] = []
        start = prev = int(rows[0])
        for r in rows[1:]:
            r = int(r)
            if r > prev + 3:
                bands.append((start, prev))
                start = r
            prev = r
        bands.append((start, prev))
        for line, (y0, y1) in enumerate(bands):
            cols = np.flatnonzero(ink[y0 : y1 + 1].any(axis=0))
            x0, x1 = int(cols[0]), int(cols[-1])
            words.append(OcrWord("01/02/2003", BBox(x0, y0, x1 - x0 + 1, y1 - y0 + 1), 1.0, line))
        return words


class _InkModule:
    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def create(config: PixelConfig) -> InkEngine:
        return InkEngine()


@pytest.fixture
def ink_engine(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the fake engine as ``ink``; use ``--ocr-engine ink`` / ``ocr_engine='ink'``."""
    info = base.EngineInfo("ink", "conftest-ink", "nothing")
    monkeypatch.setitem(base.ENGINES, "ink", info)
    monkeypatch.setattr(
        base.EngineInfo,
        "load",
        lambda self: (
            (_InkModule.is_available, _InkModule.create)
            if self.name == "ink"
            else _original_load(self)
        ),
    )
    return "ink"


_original_load = base.EngineInfo.load


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA
