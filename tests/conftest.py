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


class HalfInkEngine(InkEngine):
    """The ink engine with a flaw: each line's box covers only its left half, as a box
    that missed part of a line would."""

    name = "halfink"

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        return [
            OcrWord(
                w.text,
                BBox(w.box.x, w.box.y, max(1, w.box.width // 2), w.box.height),
                w.confidence,
                w.line,
            )
            for w in super().read_words(image)
        ]


class _InkModule:
    engine: type[InkEngine] = InkEngine

    @classmethod
    def is_available(cls) -> bool:
        return True

    @classmethod
    def create(cls, config: PixelConfig) -> InkEngine:
        return cls.engine()


class _HalfInkModule(_InkModule):
    engine = HalfInkEngine


def _register(monkeypatch: pytest.MonkeyPatch, modules: dict[str, type[_InkModule]]) -> None:
    for name in modules:
        monkeypatch.setitem(base.ENGINES, name, base.EngineInfo(name, f"conftest-{name}", "-"))
    monkeypatch.setattr(
        base.EngineInfo,
        "load",
        lambda self: (
            (modules[self.name].is_available, modules[self.name].create)
            if self.name in modules
            else _original_load(self)
        ),
    )


@pytest.fixture
def ink_engine(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the fake engine as ``ink``; use ``--ocr-engine ink`` / ``ocr_engine='ink'``.

    The fake reads speckle and the edges of objects as text, so the second look (which
    any real engine would pass) is turned off for it; ``fake_engines`` keeps it on.
    """
    from dicomscrub.batch import worker

    _register(monkeypatch, {"ink": _InkModule})
    monkeypatch.setattr(worker, "_second_look", lambda *args, **kwargs: None)
    return "ink"


@pytest.fixture
def fake_engines(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """``ink`` and the flawed ``halfink``, with the second look on."""
    _register(monkeypatch, {"ink": _InkModule, "halfink": _HalfInkModule})
    return "ink", "halfink"


_original_load = base.EngineInfo.load


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA
