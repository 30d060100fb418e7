"""Box arithmetic: IoU merging."""

from __future__ import annotations

from collections.abc import Iterable

from dicomscrub.models import BBox


def merge_boxes(boxes: Iterable[BBox], iou_threshold: float) -> list[BBox]:
    """Merge boxes whose IoU is above ``iou_threshold`` (or that contain one another).

    Repeats until no pair qualifies, so chains of overlapping boxes collapse fully.
    Output is sorted (top-to-bottom, left-to-right) so results are deterministic.
    """
    pending = [b for b in boxes if b.area > 0]
    merged = True
    while merged:
        merged = False
        out: list[BBox] = []
        for box in pending:
            for i, kept in enumerate(out):
                inter = box.intersection(kept)
                if inter and (box.iou(kept) > iou_threshold or inter in (box.area, kept.area)):
                    out[i] = kept.union(box)
                    merged = True
                    break
            else:
                out.append(box)
        pending = out
    return sorted(pending, key=lambda b: (b.y, b.x, b.height, b.width))
