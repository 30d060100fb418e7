"""Pass 1: find the boxes of burned-in PHI in a file's sampled frames."""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox, BoxOrigin, origins_of
from dicomscrub.pixels.analyzer import LineAnalyzer
from dicomscrub.pixels.boxes import merge_boxes
from dicomscrub.pixels.candidates import (
    CONTEXT_PX,
    FIT_MARGIN_ACROSS_PX,
    FIT_SLACK,
    INK_CHROMA,
    Block,
    along_coloured_ink,
    coloured_ink,
    fit_pieces,
    fit_to_ink,
    light_plates,
    prepare_block,
    read_blocks,
    split_box,
    stroke_blocks,
    text_strokes,
)
from dicomscrub.pixels.ocr.base import OcrEngine, OcrWord
from dicomscrub.pixels.preprocess import (
    MIN_CONTRAST,
    upscale_factor,
)
from dicomscrub.pixels.render import colourfulness, ocr_views, to_display, to_gray
from dicomscrub.pixels.roi import MIDDLE, SearchArea, search_areas, ultrasound_data_regions

log = logging.getLogger(__name__)

#: Display level from which a pixel counts as overlay ink in the cheap every-frame check
#: (bright text); a coloured pixel does from INK_CHROMA.
INK_LEVEL = 200
#: New ink pixels (outside the boxes found so far and the ink already read, and on the
#: frame before too) that make a frame worth reading again: two or three small glyphs.
NEW_INK_PX = 64
#: Stroke pixels outside the boxes found so far that a block may have and still need no
#: reading: fewer than a small glyph has (a clock whose value grows by a digit is read).
STRAY_STROKE_PX = 8
#: Most frames the every-frame check sends to OCR in one file, so that content that
#: keeps changing (anatomy in the searched area) cannot make a cine cost a read per frame.
MAX_EXTRA_READS = 16
#: A block of strokes larger than this share of the frame is texture (ultrasound speckle,
#: a noisy background) with or without text in it: it is read at its own scale.
BIG_BLOCK_SHARE = 0.1
#: The mean recognition score from which a line found in texture counts as text.
TEXTURE_MIN_SCORE = 0.5
#: Closer looks past the end of a line found in texture, one after the other (a second
#: one cost the real files of the detection benchmark half as much again and found no more).
MAX_LOOKS_ALONG = 1
#: Blocks whose words each engine remembers (per process, most recently used kept).
REMEMBERED_BLOCKS = 4096
#: Samples of a cine from which the median of their pictures is searched too, and the
#: key of that picture among the views of the frames.
STILL_SAMPLES = 3
STILL_VIEW = -1
#: Most a pixel of a cine may change (of 255, in any channel) from a later sample to
#: the frames beside it and still count as steady: an overlay stays (lossy compression
#: moves its soft edges by a few levels), speckle that moves does not.
STEADY_LEVELS = 24
#: The share of a proposed line's strokes that must be steady on a later sample of a
#: cine for it to be looked at closely: text over moving speckle keeps a fifth or more
#: of them (its glyphs), a line the detector took from the speckle itself about a tenth.
STEADY_SHARE = 0.15
#: The share of a light plate's pixels that must be steady on a later sample of a cine:
#: a plate that holds text stays whole, bright speckle that looks flat on one frame
#: keeps a third of its pixels at most.
STEADY_PLATE = 0.5
#: The share of a proposed line's box at each end (and half that above and below) that
#: is the detector's own overshoot: a line whose box less that lies in boxes found on
#: earlier frames is found already.
PROPOSAL_OVERSHOOT = 0.3

#: What each engine read in each block, by the block's scale, padding and digest (its
#: pixels and place): the second look meets again every block that redaction left as it
#: was, and the files of one device share the blocks of their clinical overlay.
_REMEMBERED: weakref.WeakKeyDictionary[
    OcrEngine, OrderedDict[tuple[int, int, bytes], list[OcrWord]]
]
_REMEMBERED = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Detection:
    """The PHI boxes of one file, why each is there, and what the search saw."""

    boxes: tuple[BBox, ...]
    origins: tuple[tuple[BoxOrigin, ...], ...]
    frames_searched: int
    frames_checked: int
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
    analyzer: LineAnalyzer,
    *,
    other_frames: Callable[[Sequence[int]], Iterable[np.ndarray]] | None = None,
    reader: OcrEngine | None = None,
) -> Detection:
    """OCR the text blocks of sampled frames and return merged, expanded PHI boxes.

    ``frame_at(i)`` decodes frame ``i`` only. Identical blocks (a static overlay on a
    cine) are read once. With ``other_frames(indices)`` (decoding those frames in order),
    every frame that was not sampled is checked cheaply too: a frame whose overlay shows
    ink that no frame read so far had, outside the boxes found so far, is read as well.
    So the cost follows the number of distinct overlays, not the number of frames.
    ``analyzer`` decides which lines hold PHI where the ``phi`` policy applies; blocks
    that need that decision are read with ``reader`` (default: ``engine``), the others
    with ``engine``, which may only find lines.
    """
    rows, cols = int(ds.Rows), int(ds.Columns)
    areas = search_areas(ds, rows, cols, config)
    search = _Search(
        areas, config, engine, reader or engine, analyzer, rows, cols, cine=num_frames > 1
    )
    sampled = sample_indices(num_frames, config.samples)
    # Anatomy moves inside the ultrasound data regions and in the middle of the frame:
    # whether a later frame shows new text is judged outside them (a frame that is read
    # is read whole).
    search.ignore_regions(ultrasound_data_regions(ds, rows, cols))
    search.ignore_regions([a.box for a in areas if a.kind == MIDDLE])
    shown: list[np.ndarray] = []
    for number, index in enumerate(sampled):
        views = ocr_views(frame_at(index), ds)
        shown.append(views[0])
        # The first sample is read; the others when they show strokes it did not have.
        if number == 0 or any(search.has_new_strokes(v, k) for k, v in enumerate(views)):
            if number and num_frames > 1:
                beside = [to_display(frame_at(i), ds) for i in _beside(index, num_frames)]
                search.steady[index] = steady_pixels(views[0], beside)
            search.add(index, views[0])
            if number == 0 or len(views) > 1:
                # Read before other samples or views are added: their strokes that fall
                # in boxes found here need no reading (a clock changing inside its box,
                # a line that the frame's own range showed already).
                search.read()
            for view, display in enumerate(views[1:], start=1):
                search.add(index, display, view)
                search.read()
    search.read()
    if len(shown) >= STILL_SAMPLES:
        # What stays on every sample (an overlay) is crisp in their median, where speckle
        # that moves is smoothed away: text over the speckle that no single frame showed
        # the detector plainly enough is searched there too.
        still = np.median(np.stack(shown), axis=0).astype(np.uint8)
        search.add(sampled[0], still, STILL_VIEW)
        search.read()
    checked = 0
    taken = set(sampled)
    rest = [i for i in range(num_frames) if i not in taken]
    if other_frames is not None and rest:
        extra = 0
        for index, frame in zip(rest, other_frames(rest), strict=True):
            checked += 1
            display = to_display(frame, ds)
            if search.has_new_ink(display) and extra < MAX_EXTRA_READS:
                extra += 1
                if extra == MAX_EXTRA_READS:
                    log.warning("the overlay kept changing: no more frames of this file are read")
                search.add(index, display)
                search.read()
    return search.result(checked)


@dataclass(frozen=True, slots=True)
class _Queued:
    """A block waiting to be read: which frame, under what policy, in which area."""

    block: Block
    index: int
    kind: str
    policy: str
    #: The frame the block is cut from (kept for proposals, looked at again closely).
    display: np.ndarray
    #: Cut from texture where a line may be: its lines go only if they read as text.
    textured: bool = False
    #: How many looks along a line, each past the end of the one before, led here.
    along: int = 0


class _Search:
    """The state of one file's search: blocks read, boxes found, ink seen."""

    def __init__(
        self,
        areas: list[SearchArea],
        config: PixelConfig,
        engine: OcrEngine,
        reader: OcrEngine,
        analyzer: LineAnalyzer,
        rows: int,
        cols: int,
        *,
        cine: bool = False,
    ) -> None:
        self.areas, self.config, self.analyzer = areas, config, analyzer
        self.engine, self.reader = engine, reader
        self.rows, self.cols = rows, cols
        self.scale = upscale_factor(cols)
        self.searched = np.zeros((rows, cols), dtype=bool)
        #: Pixels of the areas under the ``all-text`` policy.
        self.all_text = np.zeros((rows, cols), dtype=bool)
        for area in areas:
            b = area.box
            self.searched[b.y : b.bottom, b.x : b.right] = True
            if area.policy == "all-text":
                self.all_text[b.y : b.bottom, b.x : b.right] = True
        self.found: list[tuple[BBox, BoxOrigin]] = []
        #: The whole fitted box of each line found by a rule (its words are in ``found``).
        self.ruled: list[tuple[BBox, BoxOrigin]] = []
        #: Words and lines read that did not go (in the frame's pixels), with their block.
        self.stayed: list[tuple[BBox, _Queued]] = []
        self.stayed_lines: list[tuple[BBox, _Queued]] = []
        self.seen: set[bytes] = set()
        self.ink = [np.zeros((a.box.height, a.box.width), dtype=bool) for a in areas]
        #: Per view of the frames (:func:`ocr_views`), the strokes of each area seen so far.
        self.strokes: dict[int, list[np.ndarray]] = defaultdict(
            lambda: [np.zeros((a.box.height, a.box.width), dtype=bool) for a in areas]
        )
        self.last_ink: list[np.ndarray | None] = [None for _ in areas]
        self.ignored = np.zeros((rows, cols), dtype=bool)
        #: Per later sample of a cine, the pixels that stay on the frames beside it.
        self.steady: dict[int, np.ndarray] = {}
        self.covered = np.zeros((rows, cols), dtype=bool)
        self.pending: list[_Queued] = []
        self.proposals: list[_Queued] = []
        self.propose: Callable[[np.ndarray], list[BBox]] | None = getattr(engine, "propose", None)
        self.rule_counts: dict[str, int] = defaultdict(int)
        self.frames = self.regions = self.words = 0
        #: Lines of a multi-frame image keep their reach along the text when fitted.
        self.cine = cine

    def add(self, index: int, display: np.ndarray, view: int = 0) -> None:
        """Queue the new-looking blocks of one view of a frame for reading (``view`` 0:
        the frame over its own range, which the every-frame check sees too)."""
        self.frames += view == 0
        for number, area in enumerate(self.areas):
            crop = _crop(display, area.box)
            if view == 0:
                ink = overlay_ink(crop)
                self.ink[number] |= ink
                self.last_ink[number] = ink
            self.strokes[view][number] |= stroke_mask(crop)
        big = BIG_BLOCK_SHARE * self.rows * self.cols
        for box in stroke_blocks(display, self.searched):
            if box.area > big and self.propose is not None:
                # Texture (speckle, a noisy ground): found leniently at its own scale
                # first, then only where lines may be, looked at closely.
                self._queue(index, display, box, 1, self.proposals)
                # Its light plates are read closely as they are: the proposals see the
                # texture's polarity, and dark text on a light plate has the other one.
                # So is coloured ink in grey texture: small coloured text is easily lost
                # at the texture's own scale.
                # On a later sample of a cine a plate must stay: bright speckle that
                # moves can look flat on one frame.
                plates = [p for p in light_plates(display, box, big) if self._plate_stays(index, p)]
                for plate in plates + coloured_ink(display, box, big):
                    if not self._covered_already(display, plate):
                        self._queue(index, display, plate, self.scale, self.pending, textured=True)
            elif not self._covered_already(display, box):
                self._queue(index, display, box, self.scale, self.pending)

    def _covered_already(self, display: np.ndarray, box: BBox) -> bool:
        """Whether all but ``STRAY_STROKE_PX`` of the strokes in ``box`` lie in boxes
        found on earlier frames: whatever they say goes already (a clock changing inside
        its box on a later sample of a cine need not be read again)."""
        if not self.found:
            return False
        strokes = stroke_mask(_crop(display, box))
        strokes &= ~self.covered[box.y : box.bottom, box.x : box.right]
        return int(np.count_nonzero(strokes)) < STRAY_STROKE_PX

    def _found_already(self, line: BBox) -> bool:
        """Whether a proposed line, less the detector's overshoot, lies in boxes found on
        earlier frames (the same text over other speckle, or a clock that changed inside
        its box): it goes there already. A line that grew past them is looked at."""
        if not self.found:
            return False
        across = min(line.width, line.height)
        end, side = round(PROPOSAL_OVERSHOOT * across), round(PROPOSAL_OVERSHOOT * across / 2)
        dx, dy = (end, side) if line.width >= line.height else (side, end)
        core = BBox(line.x + dx, line.y + dy, line.width - 2 * dx, line.height - 2 * dy)
        if core.width <= 0 or core.height <= 0:
            return False
        return bool(self.covered[core.y : core.bottom, core.x : core.right].all())

    def _plate_stays(self, index: int, plate: BBox) -> bool:
        """Whether at least ``STEADY_PLATE`` of a light plate's pixels stay on the frames
        beside a later sample of a cine (always, on other frames)."""
        steady = self.steady.get(index)
        if steady is None or plate.area == 0:
            return True
        return float(np.mean(_crop(steady, plate))) >= STEADY_PLATE

    def _moving(self, index: int, display: np.ndarray, line: BBox) -> bool:
        """Whether a line proposed in texture on a later sample of a cine is speckle that
        moves: fewer than ``STEADY_SHARE`` of its strokes stay on the frames beside it."""
        steady = self.steady.get(index)
        if steady is None:
            return False
        strokes = stroke_mask(_crop(display, line))
        total = int(np.count_nonzero(strokes))
        if total == 0:
            return False
        kept = int(np.count_nonzero(strokes & _crop(steady, line)))
        return kept < STEADY_SHARE * total

    def _queue(
        self,
        index: int,
        display: np.ndarray,
        box: BBox,
        scale: int,
        queue: list[_Queued],
        *,
        textured: bool = False,
        along: int = 0,
    ) -> None:
        padding = self.config.padding_px
        for piece in split_box(box, scale, padding):
            block = prepare_block(display, piece, scale, padding)
            if block is None or block.digest in self.seen:
                continue
            self.seen.add(block.digest)
            policy = "all-text" if self._all_text(piece) else "phi"
            queue.append(_Queued(block, index, self._kind(piece), policy, display, textured, along))

    def _all_text(self, box: BBox) -> bool:
        """Whether ``box`` lies wholly under the ``all-text`` policy."""
        return bool(self.all_text[box.y : box.bottom, box.x : box.right].all())

    def _kind(self, box: BBox) -> str:
        """The kind of the area that holds most of ``box``."""
        best = max(self.areas, key=lambda a: a.box.intersection(box))
        return best.kind

    def read(self) -> None:
        """OCR the queued blocks and keep the lines that go: blocks wholly under the
        ``all-text`` policy are read by the engine, the others by the reader (a line of
        such a block goes under ``all-text`` if it lies mostly in an area of that policy),
        and so are blocks cut from texture, whose lines go only if they read as text."""
        proposals, self.proposals = self.proposals, []
        if proposals and self.propose is not None:
            self.regions += len(proposals)
            propose = self.propose
            found = read_blocks(
                lambda img: [OcrWord("", b, 1.0, n) for n, b in enumerate(propose(img))],
                [q.block.image for q in proposals],
            )
            for q, words in zip(proposals, found, strict=True):
                for word in words:
                    box = _to_source(word.box, q.block.box, q.block.scale, q.block.padding_px)
                    box = box.clipped(self.rows, self.cols)
                    if not box.area or self._covered_already(q.display, box):
                        continue  # a line read on an earlier frame, where it goes already
                    if self._found_already(box) or self._moving(q.index, q.display, box):
                        continue
                    # A line found at a small scale may be found short: look along it.
                    across, down = _look_reach(box)
                    box = BBox(box.x - across, box.y - down, box.width + 2 * across,
                               box.height + 2 * down).clipped(self.rows, self.cols)  # fmt: skip
                    self._queue(q.index, q.display, box, self.scale, self.pending, textured=True)
        while self.pending:  # looks along lines queue more
            queued, self.pending = self.pending, []
            self.regions += len(queued)
            for reads, engine in ((False, self.engine), (True, self.reader)):
                group = [q for q in queued if self._reads(q) == reads]
                if not group:
                    continue
                texts = read_remembered(engine, [q.block for q in group])
                for q, words in zip(group, texts, strict=True):
                    self._keep_lines(q, words)

    @staticmethod
    def _reads(q: _Queued) -> bool:
        """Whether a block's lines must be read, not only found: what they say decides
        (the phi policy), or whether they are text at all (lines found in texture)."""
        return q.policy == "phi" or q.textured

    def _keep_lines(self, q: _Queued, words: list[OcrWord]) -> None:
        self.words += len(words)
        block = q.block
        source = f"ocr:{self.reader.name if self._reads(q) else self.engine.name}"
        by_line: dict[int, list[OcrWord]] = defaultdict(list)
        for word in words:
            by_line[word.line].append(word)
        split: dict[str, list[OcrWord]] = {"all-text": [], "phi": []}
        faint: list[BBox] = []  # lines in texture that did not read as text
        for line_words in by_line.values():
            policy = q.policy
            if policy == "phi":
                box = BBox.enclosing(w.box for w in line_words)
                found = _to_source(box, block.box, block.scale, block.padding_px)
                found = found.clipped(self.rows, self.cols)
                where = (slice(found.y, found.bottom), slice(found.x, found.right))
                if not self.searched[where].any():
                    continue  # found around a block, outside every searched area
                # Mostly in an all-text area: a line that runs on out of a margin.
                if 2 * int(np.count_nonzero(self.all_text[where])) >= found.area:
                    policy = "all-text"
            if policy == "all-text" and q.textured and not _reads_as_text(line_words):
                self.rule_counts["texture, not text"] += 1
                faint.extend(w.box for w in line_words)
                continue
            split[policy].extend(line_words)
        left: list[BBox] = []
        lines = [
            line
            for policy, group in split.items()
            if group
            for line in text_lines(group, self.analyzer, self.config.min_confidence, policy, left)
        ]
        # A piece that reads poorly right beside a line that goes is the rest of it (the
        # detector cut the line where speckle runs into it).
        lines = _absorb_row_neighbours(lines, faint)
        for box in left + faint:
            found = _to_source(box, block.box, block.scale, block.padding_px)
            self.stayed.append((found.clipped(self.rows, self.cols), q))
        gone = [box for box, _, _ in lines]
        for line_words in by_line.values():
            box = BBox.enclosing(w.box for w in line_words)
            # In texture, speckle read as a stray symbol or two is no banner line.
            text = not q.textured or _reads_as_text(line_words)
            if text and not any(box.intersection(other) for other in gone):
                found = _to_source(box, block.box, block.scale, block.padding_px)
                self.stayed_lines.append((found.clipped(self.rows, self.cols), q))
        for box, rule, confidence in lines:
            self.rule_counts[rule] += 1
            found = _to_source(box, block.box, block.scale, block.padding_px)
            found = found.clipped(self.rows, self.cols)
            # A PHI line read well (not speckle taken for an ID) is looked at past both
            # ends: its last words may be what the detector missed.
            phi = rule != "all-text" and confidence >= TEXTURE_MIN_SCORE
            # (Not a line found on an earlier frame already: its ends were looked at.)
            if q.textured and q.along < MAX_LOOKS_ALONG + phi and not self._found_already(found):
                self._look_along(q, found, phi)
            origin = BoxOrigin(source, q.kind, rule, confidence, q.index)
            pieces = self._fitted(q, found)
            self._found(pieces, origin)
            self.ruled.append((BBox.enclosing(pieces), origin))

    def _fitted(self, q: _Queued, line: BBox) -> list[BBox]:
        """The boxes that redact a line of ``q``'s frame (in texture, run on over the
        coloured ink that continues it): fitted to its ink (word by word where empty
        ground lies between the words; whole on a cine, whose counters may grow), or
        grown."""
        if q.textured:  # on a flat ground the detector finds whole lines
            line = along_coloured_ink(q.display, line)
        if self.config.fit_ink:
            engine = self.reader if self._reads(q) else self.engine
            slack = float(getattr(engine, "line_overshoot", FIT_SLACK))
            across = int(getattr(self.reader, "fit_margin_across", FIT_MARGIN_ACROSS_PX))
            if self.cine:
                return [fit_to_ink(q.display, line, self.config.expand_px, along=True,
                                   slack=slack, margin_across=across)]  # fmt: skip
            return fit_pieces(q.display, line, self.config.expand_px, slack=slack,
                              margin_across=across)  # fmt: skip
        return [line.expanded(self.config.expand_px, self.rows, self.cols)]

    def _found(self, boxes: list[BBox], origin: BoxOrigin) -> None:
        for box in boxes:
            self.found.append((box, origin))
            self.covered[box.y : box.bottom, box.x : box.right] = True

    def _take_neighbours(self) -> None:
        """Send with each line that goes the words that stayed right beside it on the
        same row of the same frame, read in another block: a label cut off from its value
        (``DOB:`` in one block, the date in the next) goes with it, as it would have in
        one block. With a line that holds PHI go the lines that stayed right above or
        below it centred on it, as the lines of a banner are (an institution's name and,
        under it, its department)."""
        # Only the lines found by a rule take their neighbours: a neighbour taken does
        # not take its own, or words read in anatomy or speckle could take each other
        # across the frame.
        for box, origin in self.ruled:
            for entry in list(self.stayed):
                other, q = entry
                if q.index == origin.frame and _same_row_and_close(box, other):
                    self.stayed.remove(entry)
                    self._found(self._fitted(q, other), origin)
            if origin.rule == "all-text":
                continue  # it goes for where it is, not for what it says
            for entry in list(self.stayed_lines):
                other, q = entry
                if q.index == origin.frame and _same_banner(box, other):
                    self.stayed_lines.remove(entry)
                    self._found(self._fitted(q, other), origin)

    def _look_along(self, q: _Queued, line: BBox, phi: bool = False) -> None:
        """Queue a closer look past each end of a line from texture that runs to the
        edge of its block (past both ends of a ``phi`` line, wherever it lies): the
        detector may have cut the line short where speckle runs into it, and the rest
        of it lies beyond what this look took in."""
        block = q.block.box
        reach, down = _look_reach(line)
        y0, y1 = line.y - down, line.bottom + down
        looks = []
        if (phi or line.x <= block.x + CONTEXT_PX) and block.x > 0:
            looks.append(BBox(line.x - reach, y0, reach + line.width, y1 - y0))
        if (phi or line.right >= block.right - CONTEXT_PX) and block.right < self.cols:
            looks.append(BBox(line.x, y0, reach + line.width, y1 - y0))
        for look in looks:
            look = look.clipped(self.rows, self.cols)
            self._queue(q.index, q.display, look, self.scale, self.pending, textured=True,
                        along=q.along + 1)  # fmt: skip

    def ignore_regions(self, regions: list[BBox]) -> None:
        """Leave these regions (ultrasound data regions, where the anatomy moves) out of
        the tests of whether a frame shows new text; a frame that is read is read whole."""
        for b in regions:
            self.ignored[b.y : b.bottom, b.x : b.right] = True

    def has_new_ink(self, display: np.ndarray) -> bool:
        """Whether this frame shows overlay ink in some area that no frame read so far
        showed there, outside the boxes found so far, that was on the frame before too
        (an overlay stays; speckle and moving anatomy do not)."""
        new_ink = False
        frame_ink = overlay_ink(display)
        for number, area in enumerate(self.areas):
            b = area.box
            ink = _crop(frame_ink, b)
            last, self.last_ink[number] = self.last_ink[number], ink
            if new_ink or last is None:
                continue
            new = ink & last & ~self.ink[number]
            new &= ~(self.covered | self.ignored)[b.y : b.bottom, b.x : b.right]
            new_ink = int(np.count_nonzero(new)) >= NEW_INK_PX
        return new_ink

    def has_new_strokes(self, display: np.ndarray, view: int = 0) -> bool:
        """Whether this view of a frame shows strokes (thin detail of any brightness) in
        some area that the same view of the frames queued so far did not show there (the
        test for sampled frames: finer and slower than the ink test, so an overlay of dim
        text counts too)."""
        for number, area in enumerate(self.areas):
            b = area.box
            new = stroke_mask(_crop(display, b)) & ~self.strokes[view][number]
            new &= ~self.ignored[b.y : b.bottom, b.x : b.right]
            if int(np.count_nonzero(new)) >= NEW_INK_PX:
                return True
        return False

    def result(self, checked: int) -> Detection:
        self._take_neighbours()
        # Each line's box is grown (or fitted to its ink) already.
        boxes = tuple(merge_boxes((b for b, _ in self.found), self.config.merge_iou))
        log.debug(
            "searched %d frames (%d more checked), %d regions, %d words, %d boxes",
            self.frames,
            checked,
            self.regions,
            self.words,
            len(boxes),
        )
        return Detection(
            boxes=boxes,
            origins=origins_of(boxes, self.found),
            frames_searched=self.frames,
            frames_checked=checked,
            regions_read=self.regions,
            words=self.words,
            rules=tuple(sorted(self.rule_counts.items())),
        )


def steady_pixels(display: np.ndarray, beside: Sequence[np.ndarray]) -> np.ndarray:
    """The pixels of an 8-bit frame that differ by at most ``STEADY_LEVELS`` (in every
    channel) from each of the frames ``beside`` it."""
    steady = np.ones(display.shape[:2], dtype=bool)
    for other in beside:
        change = np.abs(display.astype(np.int16) - other.astype(np.int16))
        if change.ndim == 3:
            change = change.max(axis=2)
        steady &= change <= STEADY_LEVELS
    return steady


def _beside(index: int, num_frames: int) -> list[int]:
    """The two frames nearest ``index``: one before and one after it, or two on one side
    at an end of the loop (speckle is like one frame by chance far more than like two)."""
    near = [index - 1, index + 1, index - 2, index + 2]
    return [i for i in near if 0 <= i < num_frames][:2]


def read_remembered(engine: OcrEngine, blocks: Sequence[Block]) -> list[list[OcrWord]]:
    """The words of each block, read by ``engine`` in packed canvases, except for the
    blocks it has read before (the same pixels in the same place, at the same scale)."""
    memo = _REMEMBERED.setdefault(engine, OrderedDict())
    keys = [(b.scale, b.padding_px, b.digest) for b in blocks]
    todo = [i for i, key in enumerate(keys) if key not in memo]
    fresh = read_blocks(engine.read_words, [blocks[i].image for i in todo]) if todo else []
    for i, words in zip(todo, fresh, strict=True):
        memo[keys[i]] = words
    out = []
    for key in keys:
        memo.move_to_end(key)
        out.append(memo[key])
    while len(memo) > REMEMBERED_BLOCKS:
        memo.popitem(last=False)
    return out


def _look_reach(line: BBox) -> tuple[int, int]:
    """How far a closer look at a line from texture reaches past it: along the text
    (three times its height) and across it (half its height)."""
    return max(CONTEXT_PX, 3 * line.height), max(CONTEXT_PX, line.height // 2)


def _crop(display: np.ndarray, box: BBox) -> np.ndarray:
    return display[box.y : box.bottom, box.x : box.right]


def stroke_mask(crop: np.ndarray) -> np.ndarray:
    """Thin detail with at least the contrast OCR needs, on the crop turned so that its
    background is dark (as :func:`~dicomscrub.pixels.candidates.prepare_block` sees it)."""
    if crop.size == 0:
        return np.zeros(crop.shape[:2], dtype=bool)
    return np.asarray(text_strokes(crop) >= MIN_CONTRAST)


def overlay_ink(crop: np.ndarray) -> np.ndarray:
    """Pixels that look like overlay text in an 8-bit image: bright, or strongly
    coloured (the cheap test of the every-frame check, not a text detector)."""
    if crop.ndim == 2:
        return np.asarray(crop >= INK_LEVEL)
    return np.asarray((to_gray(crop) >= INK_LEVEL) | (colourfulness(crop) >= INK_CHROMA))


def text_lines(
    words: Sequence[OcrWord],
    analyzer: LineAnalyzer,
    min_confidence: float,
    policy: str,
    left: list[BBox] | None = None,
) -> list[tuple[BBox, str, float]]:
    """Boxes of the whole lines that go, with the rule that sent each and the line's mean
    word confidence: every line found (``all-text``, whatever was read in it), or the
    lines that ``analyzer`` says hold PHI (``phi``; a whole line goes, so a misread
    neighbour does too). The boxes of the words that stay are added to ``left``."""
    lines: dict[int, list[OcrWord]] = defaultdict(list)
    others: list[BBox] = []
    for word in words:
        if policy == "all-text" or word.confidence >= min_confidence or min_confidence == 0.0:
            lines[word.line].append(word)
        else:  # too weak to judge, but it goes with a PHI line it stands beside
            others.append(word.box)
    out: list[tuple[BBox, str, float]] = []
    for line_words in lines.values():
        rule = "all-text" if policy == "all-text" else analyzer.judge_line(line_words)
        if rule is None:
            others.extend(w.box for w in line_words)
            continue
        box = BBox.enclosing(w.box for w in line_words)
        confidence = sum(w.confidence for w in line_words) / len(line_words)
        out.append((box, rule, confidence))
    out = _absorb_row_neighbours(out, others)
    if left is not None:
        left.extend(others)
    return out


def _absorb_row_neighbours(
    phi: list[tuple[BBox, str, float]], others: list[BBox]
) -> list[tuple[BBox, str, float]]:
    """Grow PHI lines over words on the same row right next to them.

    An engine can split a label and its value (``Name:`` / ``XYZ``) into separate lines;
    the neighbour of a PHI line on the same row goes with it.
    """
    changed = True
    while changed and others:
        changed = False
        for index, (box, rule, confidence) in enumerate(phi):
            for other in list(others):
                if _same_row_and_close(box, other):
                    box = box.union(other)
                    phi[index] = (box, rule, confidence)
                    others.remove(other)
                    changed = True
    return phi


def _same_row_and_close(a: BBox, b: BBox) -> bool:
    overlap = min(a.bottom, b.bottom) - max(a.y, b.y)
    if overlap < 0.5 * min(a.height, b.height):
        return False
    gap = max(a.x, b.x) - min(a.right, b.right)
    return gap <= 1.5 * max(a.height, b.height)


def _same_banner(a: BBox, b: BBox) -> bool:
    """Whether two lines are next to each other in a centred block of text: one right
    above the other (less than half a line apart; their boxes may overlap by less than
    half a line, as loose boxes of close lines do), of a like height, centred on one
    another, and not starting at the same column (a left-aligned list of annotations
    is not a banner)."""
    high, low = max(a.height, b.height), min(a.height, b.height)
    if low < 0.6 * high:
        return False
    gap = max(a.y, b.y) - min(a.bottom, b.bottom)
    if gap <= -0.5 * low or gap > 0.5 * high:
        return False
    centred = abs((a.x + a.right) - (b.x + b.right)) <= 2 * high
    return centred and abs(a.x - b.x) > high


def _reads_as_text(words: Sequence[OcrWord]) -> bool:
    """Whether a line found in texture reads as text: two letters or digits or more,
    read with at least ``TEXTURE_MIN_SCORE`` mean confidence (speckle that the detector
    takes for a line reads as nothing, or as one or two weak symbols)."""
    chars = sum(sum(c.isalnum() for c in w.text) for w in words)
    score = sum(w.confidence for w in words) / len(words)
    return chars >= 2 and score >= TEXTURE_MIN_SCORE


def _to_source(box: BBox, region: BBox, scale: int, padding_px: int) -> BBox:
    x0 = box.x / scale - padding_px + region.x
    y0 = box.y / scale - padding_px + region.y
    x1 = box.right / scale - padding_px + region.x
    y1 = box.bottom / scale - padding_px + region.y
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    return BBox(ix0, iy0, int(np.ceil(x1)) - ix0, int(np.ceil(y1)) - iy0)
