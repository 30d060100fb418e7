"""The PDF report: run totals and failures, then original-vs-redacted previews, one per page.

The file can show PHI burned into original images, so it is written owner-only (0o600)
and atomically (temporary file in the same folder, then ``os.replace``). Only matplotlib's
object API is used: no pyplot, no global backend switch.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dicomscrub.errors import OutputError
from dicomscrub.models import FileOutcome, RunSummary, Status, Thumbnail
from dicomscrub.report.previews import load_previews

logger = logging.getLogger(__name__)

_PORTRAIT_IN = (8.27, 11.69)  # A4
_LANDSCAPE_IN = (11.69, 8.27)
_DPI = 72
_LINE_STEP = 0.016  # figure fraction between failure rows (about 13.5 pt on A4)
_FIRST_PAGE_ROWS = 34  # failure rows under the totals on page 1
_MORE_PAGE_ROWS = 52  # failure rows on each continuation page
_PATH_CHARS = 45
_REASON_CHARS = 62


def write_pdf_report(
    path: Path,
    summary: RunSummary,
    outcomes: Sequence[FileOutcome],
    *,
    title: str = "dicomscrub redaction report",
) -> int:
    """Write the PDF; return the number of pages written.

    Parameters
    ----------
    path : Path
        Destination file; its parent folder is created when missing.
    summary : RunSummary
        Totals and the ``(relpath, reason)`` failures of the run.
    outcomes : Sequence[FileOutcome]
        Per-file results; each ``DONE`` outcome with both thumbnails gets a preview page.
    title : str, optional
        Heading of the summary page and the PDF ``Title`` metadata.

    Returns
    -------
    int
        Pages written: the summary pages plus one per previewed outcome.

    Raises
    ------
    OutputError
        When the folder, the temporary file or the final file cannot be written.
    """
    previews = [o for o in outcomes if _has_preview(o)]
    # Failures fill page 1 under the totals, then as many continuation pages as needed.
    starts = [0, *range(_FIRST_PAGE_ROWS, len(summary.failures), _MORE_PAGE_ROWS)]
    total = len(starts) + len(previews)
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write the PDF report {path}: {exc}; check the folder") from exc
    tmp = Path(tmp_name)
    meta = {"Title": title, "Creator": "dicomscrub", "CreationDate": None}
    try:
        with os.fdopen(fd, "wb") as handle, PdfPages(handle, metadata=meta) as pdf:
            for number, start in enumerate(starts, start=1):
                head = (title, stamp, len(outcomes) - len(previews)) if number == 1 else None
                fig = _summary_page(summary, start, head)
                _footer(fig, title, number, total)
                pdf.savefig(fig, dpi=_DPI)
            for number, outcome in enumerate(previews, start=len(starts) + 1):
                fig = _preview_page(outcome)
                _footer(fig, title, number, total)
                pdf.savefig(fig, dpi=_DPI)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write the PDF report {path}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("PDF report: %d pages, %d previews", total, len(previews))
    return total


def _thumbnails(outcome: FileOutcome) -> tuple[Thumbnail, Thumbnail] | None:
    """The outcome's two thumbnails, from memory or from the preview store on disk."""
    if outcome.before is not None and outcome.after is not None:
        return outcome.before, outcome.after
    if outcome.preview:
        return load_previews(outcome.preview)
    return None


def _has_preview(outcome: FileOutcome) -> bool:
    """Whether the file was de-identified and both thumbnails hold well-formed RGB data."""
    if outcome.status is Status.FAILED:
        return False
    thumbs = _thumbnails(outcome)
    if thumbs is None:
        return False
    ok = all(t.width > 0 and t.height > 0 and len(t.rgb) == t.width * t.height * 3 for t in thumbs)
    if not ok:
        logger.warning("a thumbnail has the wrong size; the file is listed without preview")
    return ok


def _shorten(text: str, limit: int) -> str:
    """Cut ``text`` in the middle so that the file name at the end stays readable."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep // 3] + "…" + text[len(text) - (keep - keep // 3) :]


def _text(
    fig: Figure,
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    mono: bool = False,
    bold: bool = False,
    color: str = "black",
    ha: str = "left",
) -> None:
    """Put literal text (no mathtext, so ``$`` in a path stays a ``$``) on the figure."""
    family = "monospace" if mono else "sans-serif"
    weight = "bold" if bold else "normal"
    fig.text(
        x,
        y,
        text,
        fontsize=size,
        family=family,
        weight=weight,
        color=color,
        ha=ha,
        parse_math=False,
    )


def _summary_page(summary: RunSummary, start: int, head: tuple[str, str, int] | None) -> Figure:
    """One portrait page: ``head`` (title, time, no-preview count), then failures from ``start``."""
    fig = Figure(figsize=_PORTRAIT_IN, dpi=_DPI)
    y = 0.94
    if head is not None:
        title, stamp, no_preview = head
        _text(fig, 0.06, y, title, 18, bold=True)
        _text(fig, 0.06, y - 0.03, f"Created {stamp}", 10, color="0.3")
        totals = [
            ("Files discovered", summary.discovered),
            ("Done", summary.done),
            ("Skipped", summary.skipped),
            ("Failed", summary.failed),
            ("Other files ignored", summary.not_dicom),
            ("Frames", summary.frames),
            ("Boxes redacted", summary.boxes),
            ("Files with no preview", no_preview),
        ]
        y -= 0.08
        for label, value in totals:
            _text(fig, 0.08, y, label, 11)
            _text(fig, 0.50, y, f"{value:,}", 11, mono=True, ha="right")
            y -= 0.024
        y -= 0.02
        heading = f"Failures ({len(summary.failures)})" if summary.failures else "No failures"
    else:
        heading = f"Failures, continued (from {start + 1})"
    _text(fig, 0.06, y, heading, 13, bold=True)
    y -= 0.03
    rows = _FIRST_PAGE_ROWS if head is not None else _MORE_PAGE_ROWS
    for relpath, reason in summary.failures[start : start + rows]:
        _text(fig, 0.06, y, _shorten(relpath, _PATH_CHARS), 8, mono=True)
        short = reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "…"
        _text(fig, 0.44, y, short, 8, mono=True, color="0.25")
        y -= _LINE_STEP
    return fig


def _image(thumb: Thumbnail) -> np.ndarray:
    """The thumbnail as a ``height`` x ``width`` x 3 uint8 array."""
    return np.frombuffer(thumb.rgb, dtype=np.uint8).reshape(thumb.height, thumb.width, 3)


def _preview_page(outcome: FileOutcome) -> Figure:
    """One landscape page: original (left) and redacted (right) first frame with the boxes."""
    fig = Figure(figsize=_LANDSCAPE_IN, dpi=_DPI)
    _text(fig, 0.04, 0.95, _shorten(outcome.relpath, 100), 13, mono=True, bold=True)
    frames, boxes = outcome.num_frames, len(outcome.boxes)
    counts = f"{frames} frame{'' if frames == 1 else 's'}, {boxes} box{'' if boxes == 1 else 'es'}"
    _text(fig, 0.04, 0.915, counts, 10, color="0.3")
    thumbs = _thumbnails(outcome)
    if thumbs is None:  # never: _has_preview checked both
        return fig
    panels = ((thumbs[0], "Original", 0.03), (thumbs[1], "Redacted", 0.52))
    for thumb, label, left in panels:
        ax = fig.add_axes((left, 0.07, 0.45, 0.78))
        ax.imshow(_image(thumb), interpolation="none")
        for box in outcome.boxes:
            # imshow puts pixel centres on integers, so pixel edges sit at -0.5.
            corner = (box.x * thumb.scale - 0.5, box.y * thumb.scale - 0.5)
            w, h = box.width * thumb.scale, box.height * thumb.scale
            ax.add_patch(Rectangle(corner, w, h, fill=False, edgecolor="red", linewidth=1.2))
        ax.set_xlim(-0.5, thumb.width - 0.5)
        ax.set_ylim(thumb.height - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=11)
    return fig


def _footer(fig: Figure, title: str, number: int, total: int) -> None:
    """Page number and report title at the bottom of the page."""
    _text(fig, 0.5, 0.02, f"{title} · page {number} of {total}", 8, color="0.4", ha="center")
