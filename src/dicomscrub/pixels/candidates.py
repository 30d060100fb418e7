"""Where text can be on a frame: blocks of strokes, cut out, scaled and packed for OCR.

A text detector's cost grows with the pixels it is given, and most of a searched area is
empty margin, flat banner or anatomy. So each frame is first reduced to its strokes:
thin detail brighter than its surroundings (a white top-hat) or darker (a black
top-hat), at least ``MIN_CONTRAST`` levels of 255. Strokes close together are joined
into blocks (a glyph, a word, a few lines), and only the blocks, with a little context
around them, go to the engine: each prepared as the whole region used to be (its text
made the bright part by its own background, stretched, inverted to dark on white,
upscaled for small images), then packed on a few canvases, so that one engine call reads
many blocks. The words found on a canvas are handed back to the block they lie in, in
the block's own source pixels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dicomscrub.models import BBox
from dicomscrub.pixels.ocr.base import OcrWord
from dicomscrub.pixels.preprocess import (
    MIN_CONTRAST,
    STROKE_WINDOW_PX,
    black_top_hat,
    white_top_hat,
)
from dicomscrub.pixels.render import colourfulness, to_dark_gray, to_gray

#: How far apart strokes may be (source pixels, across and down) and still be one block:
#: the gap between two words of a line, and between two lines of a paragraph.
JOIN_COLS_PX = 12
JOIN_ROWS_PX = 4
#: Context around a block (source pixels): the detector needs some background.
CONTEXT_PX = 6
#: Light plates in texture: neighbours differ by at most FLAT_STEP levels on a plate,
#: the text on it breaks it for at most PLATE_JOIN_PX, and its level rows run on for
#: PLATE_RUN_PX or more.
FLAT_STEP = 3
PLATE_JOIN_PX = 7
PLATE_RUN_PX = 16
#: How far the brightest channel of a pixel is above its darkest for coloured ink.
INK_CHROMA = 96
#: A block with fewer stroke pixels is a dot of noise, not a glyph.
MIN_BLOCK_INK_PX = 6
#: Thin detail from this level (of 255) is a line's ink when its box is fitted to it:
#: below ``MIN_CONTRAST``, so that the soft edges of smoothed glyphs are taken in.
INK_EDGE = 16
#: The percentile of the strokes beside a line (above and below it) taken as the level
#: of its ground's noise: ink must stand ``INK_EDGE`` above it.
NOISE_PERCENTILE = 90
#: The share of a detected line's height by which its box overshoots the glyphs at
#: each end (PP-OCR grows each line it finds by about a third of the box's height).
FIT_SLACK = 0.3
#: Pixels kept around a line's ink when its box is fitted to it: past its first and last
#: glyphs, and above and below it (the rows of soft glyph edges are ink already there;
#: past the ends, a faint serif or the soft side of a round glyph may not be).
FIT_MARGIN_PX = 2
FIT_MARGIN_ACROSS_PX = 1
#: A fitted line is cut into pieces where its glyphs stand at least this share of the
#: height of its ink apart (a word space, not the room between two letters) with no
#: stroke from ``FAINT_INK`` in between, each piece fitted to its own ink.
PIECE_GAP = 0.5
FAINT_INK = 8
#: The largest canvas side the engine gets (the PP-OCR detector is set to scale larger
#: images down, which would shrink small text), and the white gap between blocks on it.
MAX_CANVAS_PX = 2048
GAP_PX = 24


@dataclass(frozen=True, slots=True)
class Block:
    """A block of strokes ready for OCR.

    ``box`` is where it sits in the frame (source pixels, context included), ``image``
    the engine's input for it (dark text on white, ``padding_px`` of white around it,
    then ``scale`` times larger), ``digest``
    a hash of the frame's pixels under ``box`` (the same block on another frame of a
    cine need not be read again).
    """

    box: BBox
    image: np.ndarray
    scale: int
    padding_px: int
    digest: bytes


def stroke_blocks(display: np.ndarray, searched: np.ndarray) -> list[BBox]:
    """The boxes (context included, clipped to the frame) of the blocks of strokes that
    touch the ``searched`` pixels of an 8-bit frame (grey or RGB): bright strokes in its
    brightest channel, dark strokes in its darkest.

    A block may cross from one area into the next (a line that runs on out of a margin
    is one block), and its box may take in pixels no area searches (texture all round
    the margins): lines found there are the caller's to drop.
    """
    strokes = white_top_hat(to_gray(display)) >= MIN_CONTRAST
    strokes |= black_top_hat(to_dark_gray(display)) >= MIN_CONTRAST
    strokes &= searched
    whole = BBox(0, 0, searched.shape[1], searched.shape[0])
    return _joined_blocks(strokes, whole, display.shape[:2], searched.size)


def light_plates(display: np.ndarray, box: BBox, largest: float) -> list[BBox]:
    """Light plates inside a block of texture (dark text is often set on one over an
    ultrasound sector), in frame pixels, context included, up to ``largest`` pixels.

    A plate is flat: its light pixels barely differ from their neighbours, where speckle
    never stays level for long. Flat light pixels are joined across the text that
    breaks them (``PLATE_JOIN_PX``), and what is left in rows that run on for at least
    ``PLATE_RUN_PX`` is a plate.
    """
    gray = to_gray(display[box.y : box.bottom, box.x : box.right]).astype(np.int16)
    flat = gray >= 128
    flat[:, :-1] &= np.abs(np.diff(gray, axis=1)) <= FLAT_STEP
    flat[:-1, :] &= np.abs(np.diff(gray, axis=0)) <= FLAT_STEP
    join = cv2.getStructuringElement(cv2.MORPH_RECT, (PLATE_JOIN_PX, PLATE_JOIN_PX))
    plate = cv2.morphologyEx(flat.view(np.uint8), cv2.MORPH_CLOSE, join)
    # Level runs along rows: a plate's rows (and the text rows the closing filled) are
    # long, speckle's are not.
    keep = cv2.getStructuringElement(cv2.MORPH_RECT, (PLATE_RUN_PX, 3))
    plate = cv2.morphologyEx(plate, cv2.MORPH_OPEN, keep)
    return _blocks(plate.view(bool), plate, box, display.shape[:2], largest, connectivity=4)


def coloured_ink(display: np.ndarray, box: BBox, largest: float) -> list[BBox]:
    """Blocks of strongly coloured pixels inside a block of grey texture (overlay text
    is often cyan, green, yellow or red; speckle is grey), in frame pixels, context
    included, up to ``largest`` pixels (a colour Doppler box is not text)."""
    if display.ndim != 3:
        return []
    ink = colourfulness(display[box.y : box.bottom, box.x : box.right]) >= INK_CHROMA
    return _joined_blocks(ink, box, display.shape[:2], largest)


def _joined_blocks(
    ink: np.ndarray, origin: BBox, shape: tuple[int, ...], largest: float
) -> list[BBox]:
    """Blocks of the ``ink`` pixels of a crop at ``origin``, joined across the gaps of a
    line and between lines (``JOIN_*_PX``)."""
    if not ink.any():
        return []
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * JOIN_COLS_PX + 1, 2 * JOIN_ROWS_PX + 1))
    joined = cv2.dilate(ink.view(np.uint8), kernel)
    return _blocks(ink, joined, origin, shape, largest, connectivity=8)


def _blocks(
    ink: np.ndarray,
    joined: np.ndarray,
    origin: BBox,
    shape: tuple[int, ...],
    largest: float,
    *,
    connectivity: int,
) -> list[BBox]:
    """The boxes of the connected parts of ``joined`` (a crop at ``origin`` of a frame
    of ``shape``) that hold at least ``MIN_BLOCK_INK_PX`` pixels of ``ink`` and are at
    most ``largest`` pixels large, in frame pixels, with ``CONTEXT_PX`` around them."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=connectivity)
    if count <= 1:
        return []
    sizes = np.bincount(labels[ink], minlength=count)
    rows, cols = shape[0], shape[1]
    boxes = []
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        if sizes[label] >= MIN_BLOCK_INK_PX and w * h <= largest:
            box = BBox(origin.x + x - CONTEXT_PX, origin.y + y - CONTEXT_PX,
                       w + 2 * CONTEXT_PX, h + 2 * CONTEXT_PX)  # fmt: skip
            boxes.append(box.clipped(rows, cols))
    return boxes


def text_strokes(crop: np.ndarray, window: int = STROKE_WINDOW_PX) -> np.ndarray:
    """The strokes of a non-empty 8-bit crop (grey or RGB) as a white top-hat, the crop
    first turned so that its background (the median) is dark: on a light background
    the text is the dark part, taken from the darkest channel."""
    gray = to_gray(crop)
    if float(np.median(gray)) >= 128.0:
        return white_top_hat(255 - to_dark_gray(crop), window)
    return white_top_hat(gray, window)


def fit_to_ink(
    display: np.ndarray,
    line: BBox,
    reach: int,
    *,
    along: bool = False,
    slack: float = FIT_SLACK,
    margin_across: int = FIT_MARGIN_ACROSS_PX,
) -> BBox:
    """The part of ``line`` grown by ``reach`` that the line's ink takes up, with
    ``FIT_MARGIN_PX`` past its ends and ``FIT_MARGIN_ACROSS_PX`` above and below it: a
    detector's line box is loose in places (empty space above and below the glyphs) and
    short in others (a last glyph cut off), so the redaction follows the strokes instead.

    The line's glyphs are the components of strokes (from ``INK_EDGE`` above the noise
    of the ground beside the line, so that soft glyph edges count) that lie mostly
    within the line's rows (its columns for an upright line) anywhere in the grown box;
    a neighbouring line above or below is left out. With no such ink (too faint, or a
    plate the strokes cannot outline) the whole grown box is kept, and the fitted box
    never leaves it: texture the noise level does not tell from the line's glyphs only
    makes the fit as wide as the grown box.

    ``slack`` is how far the detector's boxes overshoot a line's ends, as a share of
    its height (``FIT_SLACK`` for PP-OCR; none for an engine whose boxes are the glyphs'
    own bounds): the fit never ends inside what is left of the box. ``margin_across``
    is the margin kept above and below the ink.

    With ``along`` (the lines of a multi-frame image) the fit keeps the whole reach
    along the text: a counter or clock that grows by a glyph on a frame that is not read
    stays covered.
    """
    pieces = _fit(display, line, reach, along, slack, margin_across, split=False)
    return pieces[0]


def fit_pieces(
    display: np.ndarray,
    line: BBox,
    reach: int,
    *,
    slack: float = FIT_SLACK,
    margin_across: int = FIT_MARGIN_ACROSS_PX,
) -> list[BBox]:
    """:func:`fit_to_ink`'s box cut where the line's glyphs stand ``PIECE_GAP`` of the
    height of its ink apart or more and nothing from ``FAINT_INK`` lies between them
    (the empty run between two words shows nothing to hide), each piece fitted to its
    own ink; the first and last piece reach as far as the fitted box."""
    return _fit(display, line, reach, False, slack, margin_across, split=True)


def _fit(
    display: np.ndarray,
    line: BBox,
    reach: int,
    along: bool,
    slack: float,
    margin_across: int,
    *,
    split: bool,
) -> list[BBox]:
    rows, cols = display.shape[:2]
    line = line.clipped(rows, cols)
    grown = line.expanded(reach, rows, cols)
    upright = line.height > 2 * line.width
    # Strokes as wide as the line is high (a large bold font) must survive the top-hat.
    window = max(STROKE_WINDOW_PX, min(line.width, line.height) | 1)
    around = grown.expanded(window, rows, cols)
    strokes = text_strokes(display[around.y : around.bottom, around.x : around.right], window)
    y0, x0 = grown.y - around.y, grown.x - around.x
    local = strokes[y0 : y0 + grown.height, x0 : x0 + grown.width]
    # The line's span across its text, in the grown box's pixels.
    lo, hi = (
        (line.x - grown.x, line.right - grown.x)
        if upright
        else (line.y - grown.y, line.bottom - grown.y)
    )
    # On a noisy ground, ink is what stands out from the noise beside the line; where
    # nothing does (the "noise" was a neighbouring line), any stroke is ink.
    across = local.T if upright else local
    beside = np.concatenate([across[:lo].ravel(), across[hi:].ravel()])
    noise = float(np.percentile(beside, NOISE_PERCENTILE)) if beside.size >= 64 else 0.0
    kept = _glyphs(local >= INK_EDGE + noise, lo, hi, upright)
    if not kept and noise > 0:
        kept = _glyphs(local >= INK_EDGE, lo, hi, upright)
    if not kept:
        return [grown]
    groups = [kept]
    if split:
        faint = np.asarray((across[lo:hi] >= FAINT_INK).any(axis=0))
        ink = BBox.enclosing(kept)
        gap = max(2 * FIT_MARGIN_PX + 1, round(PIECE_GAP * (ink.width if upright else ink.height)))
        groups = _pieces(kept, faint, gap, upright)
    # Along the text, never less than the middle of the detector's box: a glyph there
    # that the ink missed (dimmer than the rest of the line) is still covered.
    end = round(slack * (line.width if upright else line.height))
    start, length = (line.y - grown.y, line.height) if upright else (line.x - grown.x, line.width)
    grow_x, grow_y = (margin_across, FIT_MARGIN_PX) if upright else (FIT_MARGIN_PX, margin_across)
    out = []
    for number, group in enumerate(groups):
        box = BBox.enclosing(group)
        if length > 2 * end:  # the first piece starts, the last ends, outside the middle
            lo_at, hi_at = (box.y, box.bottom) if upright else (box.x, box.right)
            if number == 0:
                lo_at = min(lo_at, start + end)
            if number == len(groups) - 1:
                hi_at = max(hi_at, start + length - end)
            box = (
                BBox(box.x, lo_at, box.width, hi_at - lo_at)
                if upright
                else BBox(lo_at, box.y, hi_at - lo_at, box.height)
            )
        fitted = BBox(
            grown.x + box.x - grow_x,
            grown.y + box.y - grow_y,
            box.width + 2 * grow_x,
            box.height + 2 * grow_y,
        ).clipped(rows, cols)
        if along:  # the whole reach along the text: a counter that grows by a digit
            span = BBox(grown.x, fitted.y, grown.width, fitted.height)
            if upright:
                span = BBox(fitted.x, grown.y, fitted.width, grown.height)
            fitted = fitted.union(span)
        x1, y1 = max(fitted.x, grown.x), max(fitted.y, grown.y)
        x2, y2 = min(fitted.right, grown.right), min(fitted.bottom, grown.bottom)
        out.append(BBox(x1, y1, x2 - x1, y2 - y1))
    return out


def _pieces(glyphs: list[BBox], faint: np.ndarray, gap: int, upright: bool) -> list[list[BBox]]:
    """``glyphs`` in runs along the text, a new run where the next glyph starts at least
    ``gap`` past the end of the run and ``faint`` (per position along the text) shows
    nothing in between."""

    def span(b: BBox) -> tuple[int, int]:
        return (b.y, b.bottom) if upright else (b.x, b.right)

    ordered = sorted(glyphs, key=span)
    runs = [[ordered[0]]]
    stop = span(ordered[0])[1]
    for glyph in ordered[1:]:
        start, end = span(glyph)
        if start - stop >= gap and not faint[stop:start].any():
            runs.append([glyph])
        else:
            runs[-1].append(glyph)
        stop = max(stop, end)
    return runs


def along_coloured_ink(display: np.ndarray, line: BBox) -> BBox:
    """``line`` run on along its row over the coloured ink that continues it: a line of
    coloured text over grey texture (green on ultrasound speckle) that the detector cut
    short where the speckle runs into it.

    Only where the line's own ink is coloured (``INK_CHROMA``) and the ground above and
    below it is not: there grey texture has no colour, so the coloured columns that
    follow the line (with gaps of up to one and a half line heights, a word space) are
    the rest of it. Upright lines and grey images are left as they are.
    """
    rows, cols = display.shape[:2]
    if display.ndim != 3 or line.height > line.width or line.area == 0:
        return line
    band = colourfulness(display[line.y : line.bottom]) >= INK_CHROMA
    inside = band[:, line.x : line.right]
    if int(np.count_nonzero(inside)) < MIN_BLOCK_INK_PX:
        return line
    y0, y1 = max(0, line.y - line.height), min(rows, line.bottom + line.height)
    beside = colourfulness(np.concatenate([display[y0 : line.y], display[line.bottom : y1]]))
    if beside.size and float(np.mean(beside[:, line.x : line.right] >= INK_CHROMA)) > 0.02:
        return line  # a coloured ground (a palette, colour flow): colour tells nothing
    columns = np.asarray(band.any(axis=0))
    gap = max(2, round(1.5 * line.height))
    x0, x1 = line.x, line.right
    while True:  # to the right, one word after another
        ahead = np.flatnonzero(columns[x1 : min(cols, x1 + gap)])
        if ahead.size == 0:
            break
        x1 += int(ahead[-1]) + 1
    while True:
        behind = np.flatnonzero(columns[max(0, x0 - gap) : x0])
        if behind.size == 0:
            break
        x0 = max(0, x0 - gap) + int(behind[0])
    return BBox(x0, line.y, x1 - x0, line.height)


def _glyphs(ink: np.ndarray, lo: int, hi: int, upright: bool) -> list[BBox]:
    """The boxes of the components of ``ink`` that lie mostly between ``lo`` and ``hi``
    across the text (rows, or columns for an upright line)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    kept = []
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        start, size = (x, w) if upright else (y, h)
        if 2 * (min(start + size, hi) - max(start, lo)) >= min(size, hi - lo):
            kept.append(BBox(x, y, w, h))
    return kept


def prepare_block(display: np.ndarray, box: BBox, scale: int, padding_px: int) -> Block | None:
    """The engine's input for one block of an 8-bit frame, or ``None`` when its strokes
    are too faint (the block's own background decides which polarity is the text),
    with ``padding_px`` of white around it, then upscaled ``scale`` times (less if the
    block would not fit a canvas)."""
    crop = display[box.y : box.bottom, box.x : box.right]
    if crop.size == 0:
        return None
    digest = hashlib.blake2b(np.ascontiguousarray(crop).tobytes(), digest_size=16)
    digest.update(f"{box.x},{box.y},{box.width},{box.height}".encode())
    strokes = text_strokes(crop)
    peak = int(strokes.max())
    if peak < MIN_CONTRAST:
        return None
    text = 255 - (strokes.astype(np.uint16) * 255 // peak).astype(np.uint8)
    if padding_px > 0:
        text = np.pad(text, padding_px, mode="constant", constant_values=255)
    scale = max(1, min(scale, MAX_CANVAS_PX // max(text.shape)))
    if scale > 1:
        h, w = text.shape
        text = np.asarray(
            cv2.resize(text, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC), np.uint8
        )
    return Block(box, text, scale, padding_px, digest.digest())


def split_box(box: BBox, scale: int, padding_px: int) -> list[BBox]:
    """Pieces of ``box`` whose padded, scaled sides fit a canvas, overlapping by a
    quarter of a piece so that a line cut by one seam is whole in the next piece (one
    piece when it fits already)."""
    side = MAX_CANVAS_PX // scale - 2 * padding_px
    if box.width <= side and box.height <= side:
        return [box]
    step = side * 3 // 4

    def starts(begin: int, length: int) -> list[int]:
        if length <= side:
            return [begin]
        out = list(range(begin, begin + length - side, step))
        return [*out, begin + length - side]

    return [
        BBox(x, y, min(side, box.right - x), min(side, box.bottom - y))
        for y in starts(box.y, box.height)
        for x in starts(box.x, box.width)
    ]


def read_blocks(
    read: Callable[[np.ndarray], list[OcrWord]], images: Sequence[np.ndarray]
) -> list[list[OcrWord]]:
    """OCR many block images with few calls of ``read`` and hand each its own words.

    Blocks are packed on white canvases of at most ``MAX_CANVAS_PX`` a side, in shelves
    (tallest first, left to right), ``GAP_PX`` apart. A word is given to every block its
    box overlaps, clipped to that block, so even a line the engine joined across a gap
    is split back into the blocks it came from; its line number is kept, and words of
    one block share a line number only when the engine put them on one line.
    """
    out: list[list[OcrWord]] = [[] for _ in images]
    order = sorted(range(len(images)), key=lambda i: -images[i].shape[0])
    # As wide as the widest block: the engine's cost is per pixel, white ones included.
    width = min(MAX_CANVAS_PX, max((img.shape[1] for img in images), default=0))
    pending: list[tuple[int, int, int]] = []  # (block, x, y) on the canvas being filled
    x = y = shelf = 0
    for index in order:
        h, w = images[index].shape
        if x and x + w > width:  # next shelf
            x, y, shelf = 0, y + shelf + GAP_PX, 0
        if pending and y + h > MAX_CANVAS_PX:  # next canvas
            _read_canvas(read, images, pending, width, out)
            pending, x, y, shelf = [], 0, 0, 0
        pending.append((index, x, y))
        x += w + GAP_PX
        shelf = max(shelf, h)
    if pending:
        _read_canvas(read, images, pending, width, out)
    return out


def _read_canvas(
    read: Callable[[np.ndarray], list[OcrWord]],
    images: Sequence[np.ndarray],
    placed: list[tuple[int, int, int]],
    width: int,
    out: list[list[OcrWord]],
) -> None:
    height = max(y + images[i].shape[0] for i, _, y in placed)
    canvas = np.full((height, width), 255, dtype=np.uint8)
    spots = []
    for index, x, y in placed:
        h, w = images[index].shape
        canvas[y : y + h, x : x + w] = images[index]
        spots.append((index, BBox(x, y, w, h)))
    for word in read(canvas):
        for index, spot in spots:
            if not word.box.intersection(spot):
                continue
            x0, y0 = max(word.box.x, spot.x), max(word.box.y, spot.y)
            x1, y1 = min(word.box.right, spot.right), min(word.box.bottom, spot.bottom)
            box = BBox(x0 - spot.x, y0 - spot.y, x1 - x0, y1 - y0)
            out[index].append(OcrWord(word.text, box, word.confidence, word.line))
