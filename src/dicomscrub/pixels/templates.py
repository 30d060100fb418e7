"""Device templates: the boxes a device's screen layout needs, kept in a small TOML file.

A template holds rectangles per device signature (the sidecar's
``transducer_signature``: modality, maker, model, probe, matrix and colour model). It is
written from a finished run's sidecars with ``dicomscrub templates export`` and can be
edited by hand; ``dicomscrub run --templates FILE`` then redacts those rectangles on
every file with that signature without reading its text first. The second look (on by
default) stays the safety net: it reads the sampled frames of each output and fails the
file if PHI text is still readable outside the template's boxes.
"""

from __future__ import annotations

import functools
import json
import logging
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dicomscrub.errors import ConfigError
from dicomscrub.models import BBox, BoxOrigin
from dicomscrub.pixels.boxes import merge_boxes

log = logging.getLogger(__name__)

#: How a template's box is named in the sidecar's box provenance.
TEMPLATE_ORIGIN = BoxOrigin("template", "template", "device template", 1.0, -1)

_HEADER = """\
# dicomscrub device templates: rectangles to redact, per device signature, in source
# pixels (left and top are the top-left corner). A file uses the template whose
# signature equals its own (modality|maker|model|probe|probe type|rows x columns|colour
# model, as in its sidecar's transducer_signature). Edit freely: add, move, resize or
# delete boxes, or whole templates. Use with: dicomscrub run --templates THIS_FILE ...
"""


@dataclass(frozen=True, slots=True)
class DeviceTemplates:
    """Boxes per device signature."""

    boxes: Mapping[str, tuple[BBox, ...]]

    def for_signature(self, signature: str) -> tuple[BBox, ...] | None:
        """The template's boxes for a signature, or ``None`` when it has none."""
        return self.boxes.get(signature)

    def to_toml(self) -> str:
        """The human-editable file form (TOML)."""
        parts = [_HEADER]
        for signature in sorted(self.boxes):
            parts.append("\n[[template]]\n")
            parts.append(f"signature = {json.dumps(signature)}\n")
            parts.append("boxes = [\n")
            for b in self.boxes[signature]:
                parts.append(
                    f"  {{ left = {b.x}, top = {b.y}, width = {b.width}, height = {b.height} }},\n"
                )
            parts.append("]\n")
        return "".join(parts)


def templates_from_sidecars(
    sidecars: Iterable[Mapping[str, object]], merge_iou: float
) -> DeviceTemplates:
    """Pool the boxes of finished files by device signature and merge them."""
    pooled: dict[str, list[BBox]] = defaultdict(list)
    for data in sidecars:
        signature = data.get("transducer_signature")
        raw = data.get("boxes")
        if not isinstance(signature, str) or not signature or not isinstance(raw, list):
            continue
        pooled[signature].extend(BBox.from_json(b) for b in raw if isinstance(b, dict))
    return DeviceTemplates(
        {sig: tuple(merge_boxes(boxes, merge_iou)) for sig, boxes in pooled.items() if boxes}
    )


def load_templates(path: Path) -> DeviceTemplates:
    """Read a template file; any mistake is a :class:`ConfigError` naming the entry."""
    stat = _stat(path)
    return _load(path.resolve(), stat)


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read the templates file {path} ({exc.strerror})") from exc
    return info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=4)
def _load(path: Path, stat: tuple[int, int]) -> DeviceTemplates:
    """Parsed once per process and file version (``stat`` keys the cache)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the templates file {path} is not valid TOML ({exc})") from exc
    entries = data.get("template", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'template' must be a list of [[template]] tables")
    boxes: dict[str, tuple[BBox, ...]] = {}
    for number, entry in enumerate(entries, 1):
        where = f"{path}: template {number}"
        signature = entry.get("signature") if isinstance(entry, dict) else None
        if not isinstance(signature, str) or not signature:
            raise ConfigError(f"{where} has no signature")
        if signature in boxes:
            raise ConfigError(f"{where} repeats a signature of an earlier template")
        raw = entry.get("boxes", [])
        if not isinstance(raw, list):
            raise ConfigError(f"{where}: boxes must be a list")
        parsed = []
        for item in raw:
            try:
                box = BBox.from_json(item)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{where}: every box needs integer left, top, width and height"
                ) from exc
            if box.x < 0 or box.y < 0 or box.width <= 0 or box.height <= 0:
                raise ConfigError(f"{where}: a box has a negative corner or an empty size")
            parsed.append(box)
        boxes[signature] = tuple(parsed)
    log.info("loaded %d device templates", len(boxes))
    return DeviceTemplates(boxes)


def export_command(headers: Path, out: Path, merge_iou: float) -> int:
    """``dicomscrub templates export``: write the templates a finished run's sidecars give."""
    if not headers.is_dir():
        raise ConfigError(f"{headers} is not a folder of sidecars")
    sidecars = []
    for path in sorted(headers.rglob("*_bboxes.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("skipped an unreadable sidecar")
            continue
        if isinstance(data, dict):
            sidecars.append(data)
    templates = templates_from_sidecars(sidecars, merge_iou)
    out.write_text(templates.to_toml(), encoding="utf-8")
    count = sum(len(b) for b in templates.boxes.values())
    print(
        f"dicomscrub: {len(templates.boxes)} device templates ({count} boxes) from "
        f"{len(sidecars)} sidecars written to {out}"
    )
    return 0
