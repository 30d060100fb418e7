"""The private run record: settings, totals and every failure with its original path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dicomscrub import __version__
from dicomscrub.config import DeidConfig
from dicomscrub.io.write import write_json
from dicomscrub.models import FileOutcome, RunSummary, Status

RECORD_NAME = "dicomscrub_run.json"


def write_run_record(
    config: DeidConfig, summary: RunSummary, outcomes: Sequence[FileOutcome], seconds: float
) -> None:
    """Write ``<headers>/dicomscrub_run.json`` (owner-only)."""
    write_json(
        config.output.headers / RECORD_NAME,
        {
            "tool": f"dicomscrub {__version__}",
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "config": config.to_dict(),
            "summary": {
                "discovered": summary.discovered,
                "done": summary.done,
                "skipped": summary.skipped,
                "failed": summary.failed,
                "not_dicom": summary.not_dicom,
                "frames": summary.frames,
                "boxes": summary.boxes,
            },
            "ignored": [{"source": rel, "reason": why} for rel, why in summary.ignored],
            "failures": [
                {"source": o.relpath, "release_path": o.release_relpath, "reason": o.reason}
                for o in outcomes
                if o.status is Status.FAILED
            ],
        },
    )
