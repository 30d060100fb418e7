"""The regions searched for text: the margins, or the whole frame."""

from __future__ import annotations

from dicomscrub.config import PixelConfig
from dicomscrub.models import BBox


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
