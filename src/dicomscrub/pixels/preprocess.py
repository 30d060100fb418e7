"""The image operations that make text stand out from its background for OCR.

Burned-in text sits on anything: black margins, coloured banners, light boxes, anatomy.
A global threshold loses text on a mid-grey banner, so strokes are found as thin detail
instead: a white top-hat (the image minus its grey opening) keeps thin bright
structures such as character strokes whatever the local background level, a black
top-hat (the grey closing minus the image) thin dark ones. Images are upscaled for OCR
when they are small, as the engines read text of a dozen pixels poorly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Width of the top-hat window in source pixels: strokes up to about half of it survive.
STROKE_WINDOW_PX = 15
#: Images are upscaled so that this many columns (or more) reach OCR, at most 4x.
TARGET_COLS = 1280
MAX_UPSCALE = 4
#: Thin detail weaker than this (of 255) is not a stroke OCR could read.
MIN_CONTRAST = 24


def upscale_factor(image_cols: int) -> int:
    """2x for a 640-wide image, 4x for 320 and below, 1x from 1280 up."""
    return max(1, min(MAX_UPSCALE, math.ceil(TARGET_COLS / max(image_cols, 1))))


def _kernel(window: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))


def white_top_hat(gray: np.ndarray, window: int = STROKE_WINDOW_PX) -> np.ndarray:
    """``gray`` (8-bit) minus its grey opening with a square window: bright thin detail
    only (pixels beyond the edge take no part in the opening)."""
    return np.asarray(
        cv2.morphologyEx(np.ascontiguousarray(gray), cv2.MORPH_TOPHAT, _kernel(window))
    )


def black_top_hat(gray: np.ndarray, window: int = STROKE_WINDOW_PX) -> np.ndarray:
    """The grey closing of ``gray`` (8-bit) minus ``gray``: dark thin detail only."""
    return np.asarray(
        cv2.morphologyEx(np.ascontiguousarray(gray), cv2.MORPH_BLACKHAT, _kernel(window))
    )
