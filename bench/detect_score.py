"""Score a redaction tool's outputs against text-line truth, from the pixels alone.

The same scorer serves every tool: it decodes the input and the output of a file, frame by
frame, and finds what the tool covered.

- **changed**: pixels whose value differs between input and output in any sample (by more
  than ``tol``: 0 for lossless inputs, 8 of 255 for lossy JPEG inputs, whose decoders may
  differ by a few levels between the tool's environment and this one).
- **covered**: pixels that show a colour the tool filled with (one of the commonest output
  values among the changed pixels, each at least 5% of them) and lie within 4 px of a
  changed pixel. Changed pixels of another colour do not count: a tool that alters the
  whole image (wrong colours, a lossy re-encoding) covers nothing by that. Unchanged pixels
  of the fill colour next to changed ones do count: a box filled with black over dark
  glyphs on a light plate leaves those glyph pixels as they were, and hides them.
- A **line is removed** when at least 98% of its ink pixels are covered, in every frame
  the line is on; its **PHI value is removed** when 98% of the value's own ink is (the
  value without a label such as ``DOB:``). A clinical line is **kept** when less than 10%
  of its ink is covered.
- **Area redacted outside text**: changed pixels that are neither ink of any line on that
  frame (dilated by 3 px) nor a line's plate, as a share of the frame, averaged over the
  file's frames.

A file without an output (the tool failed it, or crashed) scores 0 for all its lines and
has no area figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.pixels.processing import apply_color_lut

REMOVED_SHARE = 0.98
KEPT_SHARE = 0.10
LOSSY_TOL = 8
FILL_REACH_PX = 4
TEXT_DILATE_PX = 3
_LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.203",
}


@dataclass(slots=True)
class LineScore:
    """How much of one line the tool covered."""

    relpath: str
    line: int
    phi: bool
    covered: float  # worst share of the line's ink covered over its frames
    value_covered: float | None  # the same for the PHI value's ink alone
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def removed(self) -> bool:
        return self.covered >= REMOVED_SHARE

    @property
    def value_removed(self) -> bool:
        return self.value_covered is not None and self.value_covered >= REMOVED_SHARE

    @property
    def kept(self) -> bool:
        return self.covered < KEPT_SHARE


@dataclass(slots=True)
class FileScore:
    """One file: whether it had an output, the area outside text, and its lines."""

    relpath: str
    status: str  # ok, failed (tool withheld it), crash, unreadable
    frames: int
    reason: str = ""
    area_outside: float | None = None  # share of the image, 0..1
    lines: list[LineScore] = field(default_factory=list)
    box_disagreements: int = 0  # lines whose sidecar boxes and pixels tell different stories


# --------------------------------------------------------------------------- pixels


def read_pixels(path: Path) -> tuple[np.ndarray, pydicom.Dataset]:
    """All frames as ``(frames, rows, cols, samples)`` int32 (palette indices as stored)."""
    ds = pydicom.dcmread(path)
    arr = np.asarray(ds.pixel_array)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames == 1:
        arr = arr[None]
    if samples == 1:
        arr = arr[..., None]
    return arr.astype(np.int32, copy=False), ds


def display(arr: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """One frame ``(rows, cols, samples)`` as 8-bit display values (palette through its LUT)."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR":
        rgb = np.asarray(apply_color_lut(arr[..., 0].astype(np.uint16), ds), dtype=np.float32)
        # some files hold 8-bit entries in a 16-bit table; viewers scale those up
        return rgb / 257.0 if float(rgb.max()) > 255.0 else rgb
    a = arr.astype(np.float32)
    if a.shape[-1] == 1:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        if photometric == "MONOCHROME1":
            a = 255.0 - a
    elif a.max() > 255:
        a = a * (255.0 / float(a.max()))
    return a


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of a 2-D mask by a square of side ``2 * radius + 1``."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        n = out.shape[axis]
        for step in range(1, min(radius, n - 1) + 1):
            lead = [slice(None)] * 2
            lag = [slice(None)] * 2
            lead[axis], lag[axis] = slice(step, None), slice(None, -step)
            grown[tuple(lead)] |= out[tuple(lag)]
            grown[tuple(lag)] |= out[tuple(lead)]
        out = grown
    return out


def covered_frame(before: np.ndarray, after: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """``(covered, changed)`` masks of one frame, ``(rows, cols, samples)`` each side."""
    changed = np.abs(after - before).max(axis=-1) > tol
    if not changed.any():
        return changed, changed
    values = after[changed]
    if len(values) > 200_000:
        values = values[:: len(values) // 200_000 + 1]
    uniq, counts = np.unique(values, axis=0, return_counts=True)
    order = np.argsort(counts)[::-1][:4]
    filled = np.zeros(changed.shape, dtype=bool)
    for k in order:
        if counts[k] >= 0.05 * len(values):
            filled |= (np.abs(after - uniq[k]) <= tol).all(axis=-1)
    covered = filled & dilate(changed, FILL_REACH_PX)
    return covered, changed


def lossy(ds: pydicom.Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return syntax in _LOSSY_SYNTAXES or str(ds.get("LossyImageCompression", "")) == "01"


# --------------------------------------------------------------------------- a line model


@dataclass(slots=True)
class Line:
    """A line to score: its ink per frame as a mask at ``box``."""

    line: int
    phi: bool
    box: tuple[int, int, int, int]
    frames: list[int] | None
    ink: np.ndarray | None  # box-sized; None: estimate from the input frame (real data)
    value: np.ndarray | None
    plate: tuple[int, int, int, int] | None = None
    categories: dict[str, str] = field(default_factory=dict)


def estimate_ink(shown: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Ink inside a hand-marked box: pixels far from the colour of the box's border.

    ``shown`` is the 8-bit display frame. The background is the median of a 2 px ring
    around the box; a pixel is ink when some channel differs from it by at least 40 levels
    and by at least 40% of the largest difference in the box.
    """
    rows, cols = shown.shape[:2]
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), min(cols, x + w + 2), min(rows, y + h + 2)
    outer = shown[y0:y1, x0:x1]
    ring = np.ones(outer.shape[:2], dtype=bool)
    ring[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = False
    background = np.median(outer[ring], axis=0) if ring.any() else np.zeros(shown.shape[-1])
    region = shown[y : y + h, x : x + w]
    diff = np.abs(region - background).max(axis=-1)
    if diff.size == 0 or float(diff.max()) < 40.0:
        return np.zeros(diff.shape, dtype=bool)
    return diff >= max(40.0, 0.4 * float(diff.max()))


def score_file(
    relpath: str,
    source: Path,
    output: Path | None,
    lines: list[Line],
    *,
    status: str = "ok",
    reason: str = "",
    sidecar_boxes: list[tuple[int, int, int, int]] | None = None,
) -> FileScore:
    """Score one file: ``output`` None means the tool gave none (``status`` says why)."""
    before, ds_in = read_pixels(source)
    frames = before.shape[0]
    shown = None
    if any(line.ink is None for line in lines):
        shown = [display(before[f], ds_in) for f in range(frames)]
    inks = _inks(lines, frames, shown)
    result = FileScore(relpath, status, frames, reason)
    after = None
    if output is not None and status == "ok":
        try:
            after, _ = read_pixels(output)
        except Exception as exc:  # an output no decoder reads is no redaction
            result.status, result.reason = "unreadable", f"{type(exc).__name__}"
        else:
            if after.shape != before.shape:
                result.status = "unreadable"
                result.reason = f"shape {before.shape} became {after.shape}"
                after = None
    if after is None:
        for line in lines:
            value = 0.0 if line.value is not None else None
            result.lines.append(
                LineScore(relpath, line.line, line.phi, 0.0, value, line.categories)
            )
        if result.status == "ok":
            result.status = "failed"
        return result

    tol = LOSSY_TOL if lossy(ds_in) else 0
    worst = {line.line: 1.0 for line in lines}
    worst_value = {line.line: 1.0 for line in lines if line.value is not None}
    by_box = {line.line: 1.0 for line in lines}
    rows, cols = before.shape[1:3]
    box_cover = None
    if sidecar_boxes is not None:
        box_cover = np.zeros((rows, cols), dtype=bool)
        for bx, by, bw, bh in sidecar_boxes:
            box_cover[max(0, by) : by + bh, max(0, bx) : bx + bw] = True
    areas = []
    for f in range(frames):
        covered, changed = covered_frame(before[f], after[f], tol)
        text = np.zeros((rows, cols), dtype=bool)
        plates = np.zeros((rows, cols), dtype=bool)
        for line in lines:
            if line.frames is not None and f not in line.frames:
                continue
            x, y, w, h = line.box
            ink = inks[line.line][f]
            text[y : y + h, x : x + w] |= ink
            if line.plate is not None:
                px, py, pw, ph = line.plate
                plates[py : py + ph, px : px + pw] = True
            n = int(ink.sum())
            if n:
                share = float(covered[y : y + h, x : x + w][ink].sum()) / n
                worst[line.line] = min(worst[line.line], share)
                if box_cover is not None:
                    share_box = float(box_cover[y : y + h, x : x + w][ink].sum()) / n
                    by_box[line.line] = min(by_box[line.line], share_box)
            if line.value is not None and int(line.value.sum()):
                value_ink = line.value
                share_v = float(covered[y : y + h, x : x + w][value_ink].sum()) / int(
                    value_ink.sum()
                )
                worst_value[line.line] = min(worst_value[line.line], share_v)
        outside = changed & ~(dilate(text, TEXT_DILATE_PX) | plates)
        areas.append(float(outside.sum()) / (rows * cols))
    result.area_outside = float(np.mean(areas)) if areas else 0.0
    for line in lines:
        score = LineScore(
            relpath, line.line, line.phi, worst[line.line], worst_value.get(line.line),
            line.categories,
        )  # fmt: skip
        result.lines.append(score)
        if box_cover is not None and (by_box[line.line] >= REMOVED_SHARE) != score.removed:
            result.box_disagreements += 1
    return result


def _inks(
    lines: list[Line], frames: int, shown: list[np.ndarray] | None
) -> dict[int, list[np.ndarray]]:
    """Per line, per frame, the ink mask inside its box (estimated for real data)."""
    inks: dict[int, list[np.ndarray]] = {}
    for line in lines:
        if line.ink is not None:
            inks[line.line] = [line.ink] * frames
        else:
            assert shown is not None
            inks[line.line] = [estimate_ink(shown[f], line.box) for f in range(frames)]
    return inks


# --------------------------------------------------------------------------- summaries


def share(hits: int, total: int) -> str:
    """``"99.2% (123/124)"``, or an en dash when there is nothing to count."""
    if total == 0:
        return "–"
    return f"{100.0 * hits / total:.1f}% ({hits}/{total})"


def summarize(files: Iterable[FileScore]) -> dict[str, Any]:
    """The measures of one run, over its files."""
    files = list(files)
    lines = [line for f in files for line in f.lines]
    phi = [line for line in lines if line.phi]
    clinical = [line for line in lines if not line.phi]
    areas = [f.area_outside for f in files if f.area_outside is not None]
    return {
        "files": len(files),
        "frames": sum(f.frames for f in files),
        "failed": sum(f.status == "failed" for f in files),
        "crashed": sum(f.status == "crash" for f in files),
        "unreadable": sum(f.status == "unreadable" for f in files),
        "phi_lines": (sum(x.removed for x in phi), len(phi)),
        "phi_values": (
            sum(x.value_removed for x in phi),
            sum(x.value_covered is not None for x in phi),
        ),
        "all_lines": (sum(x.removed for x in lines), len(lines)),
        "clinical_kept": (sum(x.kept for x in clinical), len(clinical)),
        "area_median": float(np.median(areas)) if areas else None,
        "area_p95": float(np.percentile(areas, 95)) if areas else None,
        "box_disagreements": sum(f.box_disagreements for f in files),
    }


def by_category(
    files: Iterable[FileScore], *, phi_only: bool
) -> dict[str, dict[str, tuple[int, int]]]:
    """Removed/total lines per category name and value (PHI lines only, or all lines)."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for f in files:
        for line in f.lines:
            if phi_only and not line.phi:
                continue
            for name, value in line.categories.items():
                hits, total = table.setdefault(name, {}).get(value, (0, 0))
                table[name][value] = (hits + int(line.removed), total + 1)
    return table
