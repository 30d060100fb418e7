"""The PDF report: page count, permissions, atomic write, failure overflow, write errors."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import numpy as np
import pytest

from dicomscrub.errors import OutputError
from dicomscrub.models import BBox, FileOutcome, RunSummary, Status, Thumbnail
from dicomscrub.report.pdf import write_pdf_report

_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def make_thumbnail(rng: np.random.Generator, width: int = 64, height: int = 48) -> Thumbnail:
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Thumbnail(width=width, height=height, rgb=pixels.tobytes(), scale=0.25)


def make_outcomes(previews: int, plain: int, seed: int = 0) -> list[FileOutcome]:
    rng = np.random.default_rng(seed)
    outcomes = [
        FileOutcome(
            relpath=f"study/series_{i:03d}/IM{i:05d}.dcm",
            status=Status.DONE,
            output=f"out/IM{i:05d}.dcm",
            num_frames=1 + i % 3,
            boxes=(BBox(8, 8, 120, 20), BBox(100, 150, 60, 16)),
            before=make_thumbnail(rng),
            after=make_thumbnail(rng),
        )
        for i in range(previews)
    ]
    outcomes += [
        FileOutcome(relpath=f"other/file_{i}.dcm", status=Status.SKIPPED, reason="no pixel data")
        for i in range(plain)
    ]
    return outcomes


def make_summary(failures: int = 0) -> RunSummary:
    listed = tuple(
        (f"bad/$weird_{i}$/file.dcm", "pixel data could not be decoded") for i in range(failures)
    )
    return RunSummary(
        discovered=10 + failures,
        done=7,
        skipped=3,
        failed=failures,
        not_dicom=2,
        frames=11,
        boxes=14,
        failures=listed,
    )


def count_pages(path: Path) -> int:
    return len(_PAGE.findall(path.read_bytes()))


def test_the_report_has_a_summary_page_and_one_page_per_previewable_outcome(
    tmp_path: Path,
) -> None:
    target = tmp_path / "report.pdf"

    pages = write_pdf_report(target, make_summary(failures=2), make_outcomes(previews=5, plain=3))

    assert target.read_bytes().startswith(b"%PDF")
    assert pages == 1 + 5
    assert count_pages(target) == pages


def test_the_report_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"

    write_pdf_report(target, make_summary(), make_outcomes(previews=1, plain=0))

    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_no_temporary_file_is_left_next_to_the_report(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"

    write_pdf_report(target, make_summary(failures=1), make_outcomes(previews=2, plain=1))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]


def test_a_missing_parent_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.pdf"

    pages = write_pdf_report(target, make_summary(), [])

    assert pages == 1
    assert count_pages(target) == 1


def test_a_long_failure_list_spills_onto_extra_summary_pages(tmp_path: Path) -> None:
    few, many = tmp_path / "few.pdf", tmp_path / "many.pdf"

    few_pages = write_pdf_report(few, make_summary(failures=3), make_outcomes(2, 0))
    many_pages = write_pdf_report(many, make_summary(failures=300), make_outcomes(2, 0))

    assert few_pages == 1 + 2
    assert many_pages > 2 + few_pages
    assert count_pages(many) == many_pages


def test_outcomes_without_both_thumbnails_get_no_preview_page(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    half = FileOutcome("a.dcm", Status.DONE, num_frames=1, before=make_thumbnail(rng))
    failed = FileOutcome("b.dcm", Status.FAILED, reason="unreadable")
    broken = FileOutcome(
        "c.dcm", Status.DONE, before=make_thumbnail(rng), after=Thumbnail(4, 4, b"\0" * 5, 1.0)
    )
    target = tmp_path / "report.pdf"

    pages = write_pdf_report(target, make_summary(), [half, failed, broken])

    assert pages == 1
    assert count_pages(target) == 1


def test_an_existing_report_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"old")

    write_pdf_report(target, make_summary(), make_outcomes(previews=1, plain=0))

    assert target.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_unwritable_destination_raises_output_error_naming_the_path(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.mkdir()  # os.replace cannot put a file over a folder

    with pytest.raises(OutputError, match=re.escape(str(target))):
        write_pdf_report(target, make_summary(), make_outcomes(previews=1, plain=0))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]
    assert target.is_dir()


def test_a_parent_that_is_a_file_raises_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")

    with pytest.raises(OutputError, match=re.escape(str(blocker))):
        write_pdf_report(blocker / "report.pdf", make_summary(), [])
