"""Pass 1: find the boxes of burned-in PHI in a file's sampled frames."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox
from dicomscrub.pixels.boxes import expand_boxes, merge_boxes
from dicomscrub.pixels.ocr.base import OcrEngine, OcrWord
from dicomscrub.pixels.phi_policy import PhiMatcher
from dicomscrub.pixels.preprocess import Prepared, prepare_region
from dicomscrub.pixels.render import to_display
from dicomscrub.pixels.roi import search_regions

log = logging.getLogger(__name__)

#: White rows between stacked regions, and the tallest canvas sent to OCR at once.
BAND_GAP_PX = 32
MAX_CANVAS_ROWS = 4000


@dataclass(frozen=True, slots=True)
class Detection:
    """The PHI boxes of one file and what the search saw."""

    boxes: tuple[BBox, ...]
    frames_searched: int
    regions_read: int
    words: int
    rules: tuple[tuple[str, int], ...]


def sample_indices(num_frames: int, samples: int) -> list[int]:
    """``samples`` frame indices spread evenly, first and last included."""
    if num_frames <= 0:
        return []
    count = min(max(samples, 1), num_frames)
    if count == 1:
        return [0]
    return sorted({round(i * (num_frames - 1) / (count - 1)) for i in range(count)})


def detect_phi_boxes(
    frame_at: Callable[[int], np.ndarray],
    ds: Dataset,
    num_frames: int,
    config: PixelConfig,
    engine: OcrEngine,
    matcher: PhiMatcher,
) -> Detection:
    """OCR the margins of sampled frames and return merged, expanded PHI boxes.

    ``frame_at(i)`` decodes frame ``i`` only. Identical regions (a static overlay on a
    cine) are read once.
    """
    rows, cols = int(ds.Rows), int(ds.Columns)
    regions = search_regions(rows, cols, config)
    found: list[BBox] = []
    seen: set[bytes] = set()
    rule_counts: dict[str, int] = defaultdict(int)
    words_total = frames = 0
    bands: list[tuple[BBox, Prepared]] = []
    for index in sample_indices(num_frames, config.samples):
        display = to_display(frame_at(index), ds)
        frames += 1
        for region in regions:
            crop = display[region.y : region.bottom, region.x : region.right]
            digest = hashlib.blake2b(crop.tobytes(), digest_size=16).digest()
            if digest in seen:
                continue
            seen.add(digest)
            prepared = prepare_region(crop, cols, config.padding_px)
            if prepared is not None:
                bands.append((region, prepared))
    regions_read = len(bands)
    for (region, prepared), words in zip(
        bands, read_stacked(engine, [p.image for _, p in bands]), strict=True
    ):
        words_total += len(words)
        for box, rule in text_lines(words, matcher, config.min_confidence, config.redact):
            rule_counts[rule] += 1
            found.append(_to_source(box, region, prepared.scale, prepared.padding_px))
    merged = merge_boxes((b.clipped(rows, cols) for b in found), config.merge_iou)
    boxes = expand_boxes(merged, config.expand_px, rows, cols)
    log.debug(
        "searched %d frames, %d regions, %d words, %d boxes",
        frames,
        regions_read,
        words_total,
        len(boxes),
    )
    return Detection(
        boxes=tuple(merge_boxes(boxes, config.merge_iou)),
        frames_searched=frames,
        regions_read=regions_read,
        words=words_total,
        rules=tuple(sorted(rule_counts.items())),
    )


def read_stacked(engine: OcrEngine, images: Sequence[np.ndarray]) -> list[list[OcrWord]]:
    """OCR many regions with few engine calls: stack them top to bottom on one white
    canvas (up to ``MAX_CANVAS_ROWS`` rows), then hand each region back its own words in
    its own coordinates. Regions sit in separate bands with a white gap between them, so
    no line can join text of two regions.
    """
    out: list[list[OcrWord]] = [[] for _ in images]
    start = 0
    while start < len(images):
        stop, height = start, 0
        while stop < len(images) and (
            stop == start or height + images[stop].shape[0] + BAND_GAP_PX <= MAX_CANVAS_ROWS
        ):
            height += images[stop].shape[0] + BAND_GAP_PX
            stop += 1
        width = max(img.shape[1] for img in images[start:stop])
        canvas = np.full((height, width), 255, dtype=np.uint8)
        tops = []
        y = 0
        for img in images[start:stop]:
            canvas[y : y + img.shape[0], : img.shape[1]] = img
            tops.append(y)
            y += img.shape[0] + BAND_GAP_PX
        for word in engine.read_words(canvas):
            centre = word.box.y + word.box.height / 2
            band = max(i for i, top in enumerate(tops) if top <= centre) if centre >= 0 else 0
            top = tops[band]
            img = images[start + band]
            box = BBox(word.box.x, word.box.y - top, word.box.width, word.box.height)
            box = box.clipped(img.shape[0], img.shape[1])
            out[start + band].append(OcrWord(word.text, box, word.confidence, word.line))
        start = stop
    return out


def text_lines(
    words: Sequence[OcrWord], matcher: PhiMatcher, min_confidence: float, policy: str
) -> list[tuple[BBox, str]]:
    """Boxes of the whole lines that go, with the rule that sent each: every line found
    (``all-text``, whatever was read in it), or the lines that hold PHI (``phi``; a whole
    line goes, so a misread neighbour does too)."""
    lines: dict[int, list[OcrWord]] = defaultdict(list)
    for word in words:
        if policy == "all-text" or word.confidence >= min_confidence or min_confidence == 0.0:
            lines[word.line].append(word)
    out: list[tuple[BBox, str]] = []
    others: list[BBox] = []
    for line_words in lines.values():
        rule = "all-text" if policy == "all-text" else matcher.line_rule(w.text for w in line_words)
        if rule is None:
            others.extend(w.box for w in line_words)
            continue
        box = line_words[0].box
        for word in line_words[1:]:
            box = box.union(word.box)
        out.append((box, rule))
    return _absorb_row_neighbours(out, others)


def _absorb_row_neighbours(
    phi: list[tuple[BBox, str]], others: list[BBox]
) -> list[tuple[BBox, str]]:
    """Grow PHI lines over words on the same row right next to them.

    An engine can split a label and its value (``Name:`` / ``XYZ``) into separate lines;
    the neighbour of a PHI line on the same row goes with it.
    """
    changed = True
    while changed and others:
        changed = False
        for index, (box, rule) in enumerate(phi):
            for other in list(others):
                if _same_row_and_close(box, other):
                    box = box.union(other)
                    phi[index] = (box, rule)
                    others.remove(other)
                    changed = True
    return phi


def _same_row_and_close(a: BBox, b: BBox) -> bool:
    overlap = min(a.bottom, b.bottom) - max(a.y, b.y)
    if overlap < 0.5 * min(a.height, b.height):
        return False
    gap = max(a.x, b.x) - min(a.right, b.right)
    return gap <= 1.5 * max(a.height, b.height)


def _to_source(box: BBox, region: BBox, scale: int, padding_px: int) -> BBox:
    x0 = box.x / scale - padding_px + region.x
    y0 = box.y / scale - padding_px + region.y
    x1 = box.right / scale - padding_px + region.x
    y1 = box.bottom / scale - padding_px + region.y
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    return BBox(ix0, iy0, int(np.ceil(x1)) - ix0, int(np.ceil(y1)) - iy0)
