"""Plain data shared by every stage: boxes, per-file results and outcomes."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: Pixel Data, Float Pixel Data and Double Float Pixel Data: bulk values that header code
#: must never load.
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})


@dataclass(frozen=True, slots=True, order=True)
class BBox:
    """An axis-aligned rectangle in source-image pixels (``x``, ``y`` = top-left corner)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def intersection(self, other: BBox) -> int:
        """Area shared by ``self`` and ``other`` (0 when they do not overlap)."""
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return w * h if w > 0 and h > 0 else 0

    def iou(self, other: BBox) -> float:
        """Intersection over union in 0..1."""
        inter = self.intersection(other)
        if inter == 0:
            return 0.0
        return inter / float(self.area + other.area - inter)

    def union(self, other: BBox) -> BBox:
        """The smallest box that holds both boxes."""
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1, y1 = max(self.right, other.right), max(self.bottom, other.bottom)
        return BBox(x0, y0, x1 - x0, y1 - y0)

    @staticmethod
    def enclosing(boxes: Iterable[BBox]) -> BBox:
        """The smallest box that holds every box of a non-empty sequence."""
        it = iter(boxes)
        box = next(it)
        for other in it:
            box = box.union(other)
        return box

    def expanded(self, pixels: int, rows: int, cols: int) -> BBox:
        """Grow by ``pixels`` on each side, clipped to an image of ``rows`` x ``cols``."""
        x0 = max(0, self.x - pixels)
        y0 = max(0, self.y - pixels)
        x1 = min(cols, self.right + pixels)
        y1 = min(rows, self.bottom + pixels)
        return BBox(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def clipped(self, rows: int, cols: int) -> BBox:
        """The part of the box inside an image of ``rows`` x ``cols``."""
        return self.expanded(0, rows, cols)

    def to_json(self) -> dict[str, int]:
        """The sidecar form: ``{left, top, width, height}``."""
        return {"left": self.x, "top": self.y, "width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> BBox:
        return cls(int(data["left"]), int(data["top"]), int(data["width"]), int(data["height"]))


@dataclass(frozen=True, slots=True, order=True)
class BoxOrigin:
    """Why a box is redacted, for the sidecar: what found it, where it looked, the rule
    that fired and how sure the finder was. Never holds the text that was read."""

    source: str  #: "ocr:<engine>" or "template"
    area: str  #: the searched area: "margins", "full frame", "outside ultrasound regions"
    rule: str  #: "all-text", or the PHI rule ("header-value", "date", ...)
    confidence: float  #: 0..1; the mean word confidence of the line (1.0 for templates)
    frame: int  #: the frame it was read on (-1 for templates: every frame)
    own: bool = True  #: False: found on another file of the same folder and device

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "area": self.area,
            "rule": self.rule,
            "confidence": round(self.confidence, 3),
            "frame": self.frame,
            "found_on": "this file" if self.own else "another file of the group",
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BoxOrigin:
        return cls(
            source=str(data.get("source", "")),
            area=str(data.get("area", "")),
            rule=str(data.get("rule", "")),
            confidence=float(str(data.get("confidence", 0.0))),
            frame=int(str(data.get("frame", -1))),
            own=data.get("found_on", "this file") == "this file",
        )


def origins_of(
    boxes: Sequence[BBox], found: Iterable[tuple[BBox, BoxOrigin]]
) -> tuple[tuple[BoxOrigin, ...], ...]:
    """For each box, the distinct origins of the found boxes it overlaps (one per source,
    area, rule and file, with the highest confidence and the first frame)."""
    out = []
    pairs = list(found)
    for box in boxes:
        best: dict[tuple[str, str, str, bool], BoxOrigin] = {}
        for other, origin in pairs:
            if not box.intersection(other):
                continue
            key = (origin.source, origin.area, origin.rule, origin.own)
            kept = best.get(key)
            if kept is None:
                best[key] = origin
            else:
                best[key] = BoxOrigin(
                    *key[:3],
                    confidence=max(kept.confidence, origin.confidence),
                    frame=min(kept.frame, origin.frame),
                    own=origin.own,
                )
        out.append(tuple(sorted(best.values())))
    return tuple(out)


class Status(enum.Enum):
    """How one input file ended."""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DetectResult:
    """Pass 1 result for one file: the boxes found and what groups it."""

    relpath: str
    boxes: tuple[BBox, ...] = ()
    leaf_key: str = ""
    signature: str = ""
    num_frames: int = 0
    has_pixels: bool = False
    flagged: tuple[int, ...] = ()  # relpath components that hold this file's PHI
    error: str | None = None
    origins: tuple[tuple[BoxOrigin, ...], ...] = ()  # per box: why it is there


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A small 8-bit RGB rendering of the first frame, for reports (row-major bytes)."""

    width: int
    height: int
    rgb: bytes
    scale: float  # thumbnail pixels per source pixel


@dataclass(frozen=True, slots=True)
class CrosswalkRows:
    """Original -> replacement pairs of one file, for the private crosswalk database."""

    patient_identity: str
    patient_id: str
    patient_name: str
    pseudonym: str
    date_offset_days: int
    #: (original StudyInstanceUID, new, original AccessionNumber, new)
    studies: tuple[tuple[str, str, str, str], ...] = ()
    uids: tuple[tuple[str, str], ...] = ()
    #: (keyword, original, token)
    identifiers: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """Pass 2 result for one file; ``reason`` says why it failed or was skipped."""

    relpath: str
    status: Status
    reason: str = ""
    output: str = ""
    release_relpath: str = ""  # the PHI-free form of relpath, for anything printed
    num_frames: int = 0
    boxes: tuple[BBox, ...] = ()
    before: Thumbnail | None = None
    after: Thumbnail | None = None
    preview: str = ""  # path of the stored thumbnails, when kept on disk instead
    crosswalk: CrosswalkRows | None = None  # handed to the main process, then dropped
    flagged: tuple[int, ...] = ()  # single-pass runs: relpath components holding its PHI
    sidecar: StagedSidecar | None = None  # single-pass runs: written by the main process


@dataclass(frozen=True, slots=True)
class StagedSidecar:
    """What a single-pass (header-only) worker wrote into the sidecar, which the main
    process writes again only when the release path it predicted from the file's own
    path flags is not the one every file's flags give."""

    signature: str
    phi: dict[str, str]
    predicted: str  # the release path the sidecar names


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Totals of one batch run."""

    discovered: int
    done: int
    skipped: int
    failed: int
    not_dicom: int
    frames: int
    boxes: int
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (release path, reason)
    ignored: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (input path, why)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0
