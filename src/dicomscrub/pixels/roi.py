"""The regions searched for text, and how what is found in each is judged.

The margins (or the whole frame, ``--full-frame``) and, on ultrasound, everything
outside the image's data regions, are searched under the ``--redact`` policy. The rest of
the frame (the middle: anatomy, and text written over it) is searched under the ``phi``
policy, so that a name in the middle of an image goes while the clinical annotations
there stay; ``--margins-only`` leaves it out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox

#: Where a searched region comes from, as the sidecar's box provenance names it.
MARGINS, FULL_FRAME, OUTSIDE_US_REGIONS = "margins", "full frame", "outside ultrasound regions"
MIDDLE = "middle"
#: Pieces of the area outside the ultrasound data regions thinner than this hold no text.
MIN_AREA_SIDE_PX = 6


@dataclass(frozen=True, slots=True)
class SearchArea:
    """One rectangle to search, why it is searched, and the policy its lines are judged
    by (``all-text`` or ``phi``)."""

    box: BBox
    kind: str
    policy: str


def margin_regions(
    rows: int, cols: int, top: float, bottom: float, left: float, right: float
) -> list[BBox]:
    """Top and bottom bands (full width), then left and right bands between them.

    A ratio of 0.0 turns that margin off. Side bands skip the rows the top and bottom
    bands already cover, so no pixel is searched twice.
    """
    regions: list[BBox] = []
    top_px = round(rows * top)
    bottom_px = round(rows * bottom)
    if top_px > 0:
        regions.append(BBox(0, 0, cols, min(top_px, rows)))
    if bottom_px > 0:
        y0 = max(rows - bottom_px, 0)
        regions.append(BBox(0, y0, cols, rows - y0))
    y_start = min(top_px, rows)
    y_end = max(rows - bottom_px, y_start)
    if y_end > y_start:
        left_px = round(cols * left)
        right_px = round(cols * right)
        if left_px > 0:
            regions.append(BBox(0, y_start, min(left_px, cols), y_end - y_start))
        if right_px > 0:
            x0 = max(cols - right_px, 0)
            regions.append(BBox(x0, y_start, cols - x0, y_end - y_start))
    return regions


def search_regions(rows: int, cols: int, config: PixelConfig) -> list[BBox]:
    """The regions searched for text: the whole frame with ``--full-frame``, else the
    margins the ratios give."""
    if config.full_frame:
        return [BBox(0, 0, cols, rows)]
    return margin_regions(rows, cols, *config.margin_ratios())


def search_areas(ds: Dataset, rows: int, cols: int, config: PixelConfig) -> list[SearchArea]:
    """Every area to search on one frame: the margins (or the whole frame), plus, on
    ultrasound images that declare their data regions (SequenceOfUltrasoundRegions),
    everything outside those regions, where only annotations can be; all of them under
    the ``--redact`` policy. Then, unless ``--margins-only``, the rest of the frame
    under the ``phi`` policy."""
    policy = config.redact
    kind = FULL_FRAME if config.full_frame else MARGINS
    areas = [SearchArea(box, kind, policy) for box in search_regions(rows, cols, config)]
    if config.full_frame:
        return areas
    data = ultrasound_data_regions(ds, rows, cols)
    if data:
        for box in outside(data, rows, cols):
            if not any(_holds(a.box, box) for a in areas):
                areas.append(SearchArea(box, OUTSIDE_US_REGIONS, policy))
    if not config.margins_only:
        middle = middle_region(rows, cols, config)
        if middle is not None:
            areas.append(SearchArea(middle, MIDDLE, "phi"))
    return areas


def middle_region(rows: int, cols: int, config: PixelConfig) -> BBox | None:
    """The part of the frame the margins leave (``None`` when they cover it all)."""
    top, bottom, left, right = config.margin_ratios()
    y0, y1 = round(rows * top), rows - round(rows * bottom)
    x0, x1 = round(cols * left), cols - round(cols * right)
    if y1 <= y0 or x1 <= x0:
        return None
    return BBox(x0, y0, x1 - x0, y1 - y0)


def ultrasound_data_regions(ds: Dataset, rows: int, cols: int) -> list[BBox]:
    """The data regions an ultrasound image declares, clipped to the frame; none when
    the sequence is absent or any item's corners are missing or out of order (a region
    that cannot be trusted gives no prior at all)."""
    try:
        items = ds.get("SequenceOfUltrasoundRegions") or []
        boxes = []
        for item in items:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
            if x1 < x0 or y1 < y0:
                return []
            box = BBox(x0, y0, x1 - x0 + 1, y1 - y0 + 1).clipped(rows, cols)
            if box.area:
                boxes.append(box)
        return boxes
    except (AttributeError, TypeError, ValueError):
        return []


def outside(regions: list[BBox], rows: int, cols: int) -> list[BBox]:
    """Rectangles that tile the frame minus ``regions``: the frame is cut into a grid at
    every region edge, the free cells of each grid row are joined left to right, and
    pieces thinner than ``MIN_AREA_SIDE_PX`` are dropped."""
    xs = sorted({0, cols, *(b.x for b in regions), *(b.right for b in regions)})
    ys = sorted({0, rows, *(b.y for b in regions), *(b.bottom for b in regions)})
    pieces: list[BBox] = []
    for y0, y1 in itertools.pairwise(ys):
        run_start: int | None = None
        for x0, x1 in itertools.pairwise(xs):
            cell = BBox(x0, y0, x1 - x0, y1 - y0)
            free = not any(cell.intersection(b) for b in regions)
            if free and run_start is None:
                run_start = x0
            if not free and run_start is not None:
                pieces.append(BBox(run_start, y0, x0 - run_start, y1 - y0))
                run_start = None
        if run_start is not None:
            pieces.append(BBox(run_start, y0, cols - run_start, y1 - y0))
    pieces = _join_rows(pieces)
    return [p for p in pieces if min(p.width, p.height) >= MIN_AREA_SIDE_PX]


def _join_rows(pieces: list[BBox]) -> list[BBox]:
    """Join pieces stacked exactly on top of each other (same columns, touching rows)."""
    out: list[BBox] = []
    for piece in sorted(pieces, key=lambda b: (b.x, b.width, b.y)):
        last = out[-1] if out else None
        if last and (last.x, last.width, last.bottom) == (piece.x, piece.width, piece.y):
            out[-1] = BBox(last.x, last.y, last.width, last.height + piece.height)
        else:
            out.append(piece)
    return out


def _holds(outer: BBox, inner: BBox) -> bool:
    return outer.intersection(inner) == inner.area
