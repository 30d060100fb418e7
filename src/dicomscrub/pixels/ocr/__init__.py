"""OCR engines behind one small interface; see :mod:`dicomscrub.pixels.ocr.base`."""

from dicomscrub.pixels.ocr.base import OcrEngine, OcrWord, available_engines, get_engine

__all__ = ["OcrEngine", "OcrWord", "available_engines", "get_engine"]
