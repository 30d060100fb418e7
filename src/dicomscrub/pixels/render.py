"""Turn a decoded frame into an 8-bit picture for OCR, thumbnails and reports."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut


def to_display(frame: np.ndarray, ds: Dataset, *, robust: bool = False) -> np.ndarray:
    """An 8-bit image as a viewer would show it: ``(rows, cols)`` gray or ``(rows, cols, 3)``.

    Palette colour goes through its LUT; MONOCHROME1 is inverted so text that displays
    white is white here too; grey levels are min-max stretched over the frame
    (``robust``, for previews: through the file's window when it has one, else over the
    0.5 to 99.5 percentiles, so bright text pixels do not darken the picture).
    """
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    arr = frame
    if photometric == "PALETTE COLOR" and arr.ndim == 2:
        try:
            arr = apply_color_lut(arr, ds)
        except Exception:
            arr = frame
    if robust and photometric.startswith("MONOCHROME") and "WindowCenter" in ds:
        try:
            arr = apply_voi_lut(apply_modality_lut(arr, ds), ds)
        except Exception:  # a broken window: fall back to percentiles
            arr = frame
    arr = stretch(arr, robust=robust)
    if photometric == "MONOCHROME1":
        arr = 255 - arr
    return arr


#: Mean difference (of 255) from which a reader's view of deep grey data counts as
#: another picture than the frame stretched over its own range.
VIEW_DIFFERENCE = 8.0
#: Pixels at each end of a deep grey frame's range that a reader's view without a window
#: clips: more than a few hot or dead pixels, fewer than the ink of one short word.
OUTLIER_PX = 16


def ocr_views(frame: np.ndarray, ds: Dataset) -> list[np.ndarray]:
    """The 8-bit pictures that text is searched in, the first one always
    :func:`to_display`'s.

    Grey data of more than 8 bits stretched over its own range can hide text that a
    viewer shows plainly: a CT's annotation at 300 HU over soft tissue is a few levels
    above it once metal at 3000 HU sets the top of the range, and one hot pixel darkens
    a whole 16-bit frame. Such a frame is also searched as a reader sees it: through the
    file's VOI (its first window or VOI LUT, after the modality LUT), or where it has
    none, stretched between its ``OUTLIER_PX``-th darkest and brightest pixels (a few hot
    pixels stop setting the range, a line of text, with more, still does, so bright text
    stays brighter than the anatomy under it); but only where that picture
    differs from the first (by ``VIEW_DIFFERENCE`` on average), so a window that spans
    the data costs nothing.
    """
    first = to_display(frame, ds)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if not photometric.startswith("MONOCHROME") or frame.ndim != 2 or frame.dtype == np.uint8:
        return [first]
    view = None
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        try:
            windowed = apply_voi_lut(apply_modality_lut(frame, ds), ds, index=0)
            view = stretch(np.asarray(windowed))
        except Exception:  # a broken VOI: the percentiles below stand in for it
            view = None
    if view is None:
        flat = frame.ravel()
        if flat.size > 2 * OUTLIER_PX:
            lo = np.partition(flat, OUTLIER_PX)[OUTLIER_PX]
            hi = np.partition(flat, -OUTLIER_PX)[-OUTLIER_PX]
            view = stretch(np.clip(frame, lo, hi))
    if view is None:
        return [first]
    if photometric == "MONOCHROME1":
        view = 255 - view
    difference = float(np.mean(np.abs(view.astype(np.int16) - first.astype(np.int16))))
    return [first, view] if difference >= VIEW_DIFFERENCE else [first]


def stretch(arr: np.ndarray, *, robust: bool = False) -> np.ndarray:
    """Stretch to uint8 between min and max, or robust percentiles (constant -> 0)."""
    if arr.dtype == np.uint8:
        return arr
    a = arr.astype(np.float32, copy=False)
    if robust:
        lo, hi = (float(v) for v in np.percentile(a, (0.5, 99.5)))
    else:
        lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.asarray(np.clip((a - lo) * (255.0 / (hi - lo)), 0, 255), dtype=np.uint8)


def to_gray(img: np.ndarray) -> np.ndarray:
    """Collapse colour to one channel by the brightest channel, so coloured text stays bright."""
    if img.ndim == 3 and img.shape[2] == 3:
        # Channel by channel: a reduction over the short colour axis is many times slower.
        return np.asarray(np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2]))
    if img.ndim == 3:
        return np.asarray(img.max(axis=2))
    return img


def to_dark_gray(img: np.ndarray) -> np.ndarray:
    """Collapse colour to one channel by the darkest channel, so coloured text on a light
    ground stays dark (red on light grey is nearly as bright as the grey in its red
    channel, and far darker in the others)."""
    if img.ndim == 3 and img.shape[2] == 3:
        return np.asarray(np.minimum(np.minimum(img[..., 0], img[..., 1]), img[..., 2]))
    if img.ndim == 3:
        return np.asarray(img.min(axis=2))
    return img


def colourfulness(img: np.ndarray) -> np.ndarray:
    """How far each pixel's brightest channel is above its darkest (uint8), of an RGB
    8-bit image: 0 for grey."""
    return np.asarray(to_gray(img) - to_dark_gray(img))


def thumbnail_rgb(img: np.ndarray, max_px: int) -> tuple[np.ndarray, float]:
    """Downscale an 8-bit image (nearest neighbour) to fit ``max_px``; return RGB and scale."""
    rows, cols = img.shape[:2]
    scale = min(1.0, max_px / float(max(rows, cols)))
    step = max(1, int(np.ceil(1.0 / scale)))
    small = img[::step, ::step]
    if small.ndim == 2:
        small = np.stack([small] * 3, axis=-1)
    return np.ascontiguousarray(small[..., :3]), 1.0 / step
