"""The OCR engine contract and the registry of engine plugins.

An engine module declares what it needs (:func:`EngineInfo.is_available`, the package to
install); asking for one that is missing raises :class:`EngineUnavailableError` naming the
package and the engines that are available. Only ``ocr/<engine>.py`` modules import an
OCR library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dicomscrub.config import PixelConfig
from dicomscrub.errors import ConfigError, EngineUnavailableError
from dicomscrub.models import BBox


@dataclass(frozen=True, slots=True)
class OcrWord:
    """One recognised word: text, box in the engine's input image, confidence 0..1, line."""

    text: str
    box: BBox
    confidence: float
    line: int


class OcrEngine(Protocol):
    """Reads words from an 8-bit grey image (dark text on a light background).

    An engine may say how far its line boxes reach past a line's first and last glyphs,
    as a share of the line's height, in ``line_overshoot`` (default
    :data:`~dicomscrub.pixels.candidates.FIT_SLACK`): redaction boxes fitted to the ink
    never end inside the rest of the box. The engine that reads lines (and so makes the
    second look) may set ``fit_margin_across``, the pixels kept above and below a line's
    ink (default :data:`~dicomscrub.pixels.candidates.FIT_MARGIN_ACROSS_PX`).
    """

    name: str

    def read_words(self, image: np.ndarray) -> list[OcrWord]:
        """Return every word found, with its box in ``image`` coordinates."""
        ...


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """How to find and build one engine."""

    name: str
    module: str
    install_hint: str

    def load(self) -> tuple[Callable[[], bool], Callable[[PixelConfig], OcrEngine]]:
        mod = importlib.import_module(self.module)
        return mod.is_available, mod.create


ENGINES: dict[str, EngineInfo] = {
    "tesseract": EngineInfo(
        "tesseract",
        "dicomscrub.pixels.ocr.tesseract",
        "pip install pytesseract, and the tesseract binary (apt-get install tesseract-ocr)",
    ),
    "rapidocr": EngineInfo(
        "rapidocr",
        "dicomscrub.pixels.ocr.rapidocr",
        "pip install rapidocr_onnxruntime (a dependency of dicomscrub; models included)",
    ),
}


def available_engines() -> list[str]:
    """Names of the engines whose dependencies are installed."""
    names = []
    for info in ENGINES.values():
        try:
            is_available, _ = info.load()
        except ImportError:
            continue
        if is_available():
            names.append(info.name)
    return names


def get_engine(config: PixelConfig) -> OcrEngine:
    """Build the engine named by ``config.ocr_engine`` or explain what is missing."""
    info = ENGINES.get(config.ocr_engine)
    if info is None:
        raise ConfigError(
            f"unknown OCR engine {config.ocr_engine!r}; known: {', '.join(sorted(ENGINES))}"
        )
    try:
        is_available, create = info.load()
        ok = is_available()
    except ImportError:
        ok = False
    if not ok:
        others = [n for n in available_engines() if n != info.name]
        raise EngineUnavailableError(
            f"OCR engine {info.name!r} is not installed: {info.install_hint}. "
            f"Available engines: {', '.join(others) or 'none'}"
        )
    return create(config)
