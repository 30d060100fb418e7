"""Pass 2: paint boxes in the image's own pixel space, optionally with random text."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from dicomscrub.errors import RedactionError
from dicomscrub.models import BBox

#: Replacement text alphabet: letters and digits, drawn in groups too short to be a name.
_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class Fill:
    """Pixel values for a redacted area (``black``) and for replacement text (``ink``)."""

    black: tuple[int, ...]
    ink: tuple[int, ...]


def fill_for(ds: Dataset, photometric: str | None = None, frame: np.ndarray | None = None) -> Fill:
    """Black and ink values in the stored pixel space of ``ds``.

    MONOCHROME2: black is the minimum (of the frame when given, so viewers that window
    on the data range are not thrown off by an extreme value; else of the representable
    range); MONOCHROME1: the maximum; RGB: (0, 0, 0); YBR_FULL: (0, 128, 128);
    PALETTE COLOR: the index of the darkest LUT entry (ink: the brightest).
    """
    photometric = (photometric or str(ds.get("PhotometricInterpretation", ""))).strip()
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if frame is not None and frame.size and frame.ndim == 2 and photometric.startswith("MONO"):
        lo, hi = int(frame.min()), int(frame.max())
    if photometric == "MONOCHROME2":
        return Fill((lo,), (hi,))
    if photometric == "MONOCHROME1":
        return Fill((hi,), (lo,))
    if photometric == "RGB":
        return Fill((0, 0, 0), (hi, hi, hi))
    if photometric == "YBR_FULL":
        mid = 1 << (bits - 1)
        return Fill((0, mid, mid), (hi, mid, mid))
    if photometric == "PALETTE COLOR":
        return _palette_fill(ds)
    raise RedactionError(f"no known black for photometric interpretation {photometric!r}")


def _palette_fill(ds: Dataset) -> Fill:
    from pydicom.pixels.processing import apply_color_lut

    entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    indices = np.arange(first, first + entries, dtype=np.uint16 if entries > 256 else np.uint8)
    rgb = apply_color_lut(indices, ds).astype(np.float64)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    return Fill(
        (int(indices[int(np.argmin(luminance))]),), (int(indices[int(np.argmax(luminance))]),)
    )


def redact_frame(frame: np.ndarray, boxes: Sequence[BBox], fill: Fill) -> None:
    """Fill every box of one frame in place."""
    rows, cols = frame.shape[:2]
    value = fill.black if frame.ndim == 3 else fill.black[0]
    for box in boxes:
        b = box.clipped(rows, cols)
        if b.area:
            frame[b.y : b.bottom, b.x : b.right] = value


def random_text_masks(
    boxes: Sequence[BBox], rows: int, cols: int, seed: int, bold: bool
) -> list[tuple[BBox, np.ndarray]]:
    """One boolean ink mask per box with random letters and digits sized to the box.

    Computed once per file and stamped on every frame, so a cine keeps a steady overlay.
    """
    rng = random.Random(seed)
    out = []
    for box in boxes:
        b = box.clipped(rows, cols)
        if b.width < 6 or b.height < 6:
            continue
        size = max(6, int(b.height * 0.6))
        font = ImageFont.load_default(size=size)
        chars = max(1, int(b.width / (size * 0.62)) - 1)
        text = "".join(rng.choice(_ALPHABET) for _ in range(chars))
        # Break into short groups so the text never reads as a plausible name or ID.
        text = " ".join(text[i : i + 3] for i in range(0, len(text), 4)).strip()
        img = Image.new("L", (b.width, b.height), 0)
        ImageDraw.Draw(img).text(
            (2, (b.height - size) // 2),
            text,
            fill=255,
            font=font,
            stroke_width=1 if bold else 0,
            stroke_fill=255,
        )
        out.append((b, np.asarray(img) > 127))
    return out


def stamp_text(frame: np.ndarray, masks: Sequence[tuple[BBox, np.ndarray]], fill: Fill) -> None:
    """Draw pre-rendered replacement text into a redacted frame."""
    value = fill.ink if frame.ndim == 3 else fill.ink[0]
    for box, mask in masks:
        area = frame[box.y : box.bottom, box.x : box.right]
        area[mask[: area.shape[0], : area.shape[1]]] = value
