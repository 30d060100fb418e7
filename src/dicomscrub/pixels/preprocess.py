"""Prepare a region for OCR: one channel, dark text on light, stretched, upscaled, padded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dicomscrub.pixels.render import to_gray

#: Regions from images narrower than this are upscaled so small text reaches OCR size.
UPSCALE_BELOW_PX = 1200


@dataclass(frozen=True, slots=True)
class Prepared:
    """An OCR-ready image and how to map its coordinates back to the region."""

    image: np.ndarray
    scale: int
    padding_px: int


def prepare_region(region: np.ndarray, image_cols: int, padding_px: int) -> Prepared | None:
    """Return the OCR input for an 8-bit region, or ``None`` when it is blank.

    Colour collapses to its brightest channel; the polarity is set so the background
    (the median) is light; contrast is stretched; images under ``UPSCALE_BELOW_PX`` wide
    are upscaled 2x; ``padding_px`` of background surrounds the region so text touching
    its edge is still read.
    """
    gray = to_gray(region)
    if gray.size == 0 or int(gray.max()) - int(gray.min()) < 16:
        return None
    if float(np.median(gray)) < 128.0:
        gray = 255 - gray
    lo, hi = int(gray.min()), int(gray.max())
    gray = ((gray.astype(np.int32) - lo) * 255 // max(hi - lo, 1)).astype(np.uint8)
    if padding_px > 0:
        gray = np.pad(gray, padding_px, mode="constant", constant_values=255)
    scale = 2 if image_cols < UPSCALE_BELOW_PX else 1
    if scale > 1:
        h, w = gray.shape
        gray = np.asarray(
            Image.fromarray(gray).resize((w * scale, h * scale), Image.Resampling.BICUBIC)
        )
    return Prepared(image=gray, scale=scale, padding_px=padding_px)
