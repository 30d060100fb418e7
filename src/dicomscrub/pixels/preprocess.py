"""Prepare a region for OCR: text isolated from its local background, dark on light.

Burned-in text sits on anything: black margins, coloured banners, light boxes, anatomy.
A global threshold loses text on a mid-grey banner, so the region is first turned so its
background (the median) is dark, then a white top-hat (the image minus its grey opening)
keeps only thin bright structures such as character strokes, whatever the local
background level. The result is stretched, inverted to dark text on white, padded and
upscaled for small images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from dicomscrub.pixels.render import to_gray

#: Width of the top-hat window in source pixels: strokes up to about half of it survive.
STROKE_WINDOW_PX = 15
#: Images are upscaled so that this many columns (or more) reach OCR, at most 4x.
TARGET_COLS = 1280
MAX_UPSCALE = 4
#: A region whose strongest stroke contrast is below this (of 255) holds no text.
MIN_CONTRAST = 24


@dataclass(frozen=True, slots=True)
class Prepared:
    """An OCR-ready image and how to map its coordinates back to the region."""

    image: np.ndarray
    scale: int
    padding_px: int


def upscale_factor(image_cols: int) -> int:
    """2x for a 640-wide image, 4x for 320 and below, 1x from 1280 up."""
    return max(1, min(MAX_UPSCALE, math.ceil(TARGET_COLS / max(image_cols, 1))))


def prepare_region(region: np.ndarray, image_cols: int, padding_px: int) -> Prepared | None:
    """Return the OCR input for an 8-bit region, or ``None`` when it holds no strokes."""
    gray = to_gray(region)
    if gray.size == 0:
        return None
    if float(np.median(gray)) >= 128.0:
        gray = 255 - gray  # light background: make the text the bright part
    strokes = white_top_hat(gray, STROKE_WINDOW_PX)
    peak = int(strokes.max())
    if peak < MIN_CONTRAST:
        return None
    text = 255 - (strokes.astype(np.uint16) * 255 // peak).astype(np.uint8)
    if padding_px > 0:
        text = np.pad(text, padding_px, mode="constant", constant_values=255)
    scale = upscale_factor(image_cols)
    if scale > 1:
        h, w = text.shape
        text = np.asarray(
            Image.fromarray(text).resize((w * scale, h * scale), Image.Resampling.BICUBIC)
        )
    return Prepared(image=text, scale=scale, padding_px=padding_px)


def white_top_hat(gray: np.ndarray, window: int) -> np.ndarray:
    """``gray`` minus its grey opening with a square window: bright thin detail only."""
    g = gray.astype(np.int16)
    opened = _max_filter(_min_filter(g, window), window)
    return np.asarray(np.clip(g - opened, 0, 255), dtype=np.uint8)


def _min_filter(a: np.ndarray, k: int) -> np.ndarray:
    """Separable k x k minimum filter with edge padding."""
    p = k // 2
    rows = sliding_window_view(np.pad(a, ((0, 0), (p, p)), mode="edge"), k, axis=1).min(-1)
    return np.asarray(
        sliding_window_view(np.pad(rows, ((p, p), (0, 0)), mode="edge"), k, axis=0).min(-1)
    )


def _max_filter(a: np.ndarray, k: int) -> np.ndarray:
    return -_min_filter(-a, k)
