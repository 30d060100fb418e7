"""The command line: ``dicomscrub run|demo`` and the original ``redact_dicom_image_phi.py``.

Exit status: 0 every file de-identified (or skipped), 1 some files failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dicomscrub import __version__
from dicomscrub.config import (
    ANALYZERS,
    REDACT_POLICIES,
    BatchConfig,
    DeidConfig,
    HeaderConfig,
    OutputConfig,
    PixelConfig,
)
from dicomscrub.errors import ConfigError, DicomScrubError, EngineUnavailableError
from dicomscrub.header.options import DEFAULT_OPTIONS, OPTION_NAMES, resolve_options
from dicomscrub.header.overrides import ProfileFile, load_profile
from dicomscrub.models import FileOutcome, RunSummary

log = logging.getLogger("dicomscrub")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The original tool's flags (names and defaults kept) plus this tool's additions."""
    d = PixelConfig()
    parser.add_argument("--input", required=True, type=Path, help="DICOM file or folder")
    parser.add_argument("--output", required=True, type=Path, help="release folder (no PHI)")
    parser.add_argument(
        "--headers",
        required=True,
        type=Path,
        help="private folder for sidecars, key and run record",
    )
    parser.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="walk subfolders (default on; --no-recursive turns it off)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="redo files already finished (default: skip them)"
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=d.samples,
        help="frames sampled per multi-frame file for detection (default 5)",
    )
    for side in ("top", "bottom", "left", "right"):
        parser.add_argument(
            f"--{side}-ratio",
            type=float,
            default=0.25,
            help=f"fraction of the image searched at the {side} (default 0.25; 0 = off)",
        )
    parser.add_argument(
        "--padding",
        type=int,
        default=d.padding_px,
        help="pixels of padding around each region given to OCR (default 8)",
    )
    parser.add_argument(
        "--merge-iou",
        type=float,
        default=d.merge_iou,
        help="IoU above which boxes merge (default 0.2)",
    )
    parser.add_argument(
        "--expand",
        type=int,
        default=d.expand_px,
        help="how far each text line's box reaches on every side (default 8; the line's ink "
        "there is covered, see --whole-boxes)",
    )
    parser.add_argument(
        "--patient-prefix", default="anon", help="prefix of patient pseudonyms (default anon)"
    )
    parser.add_argument(
        "--random-text",
        action="store_true",
        help="draw random letters and digits inside redacted boxes",
    )
    parser.add_argument("--text-bold", action="store_true", help="bold replacement text")
    parser.add_argument(
        "--pdf-report",
        type=Path,
        default=None,
        help="write a PDF of original vs redacted first frames (private: it shows the originals)",
    )
    extra = parser.add_argument_group("dicomscrub additions")
    extra.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    extra.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="secret project key (default: <headers>/.dicomscrub.key, created on first use)",
    )
    extra.add_argument(
        "--scheduler", default=None, help="Dask distributed scheduler address, e.g. tcp://host:8786"
    )
    extra.add_argument(
        "--no-pixels",
        action="store_true",
        help="de-identify headers only; pixel data is not decoded",
    )
    extra.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME",
        help="add a PS3.15 Annex E profile option (repeatable): "
        + ", ".join(OPTION_NAMES)
        + "; default: "
        + ", ".join(DEFAULT_OPTIONS),
    )
    extra.add_argument(
        "--without-option",
        action="append",
        default=[],
        metavar="NAME",
        help="drop a default option (repeatable)",
    )
    extra.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML or YAML profile file: options, date shift range and override rules",
    )
    extra.add_argument(
        "--date-shift-days",
        default=None,
        metavar="MIN,MAX",
        help="range of the per-patient date shift in days, written with '=' because the "
        "values are negative: --date-shift-days=-3650,-365 (the default)",
    )
    extra.add_argument(
        "--ocr-engine",
        default=d.ocr_engine,
        help="OCR engine: rapidocr (PP-OCR on ONNX Runtime, models inside the wheel) or "
        "tesseract (the tesseract-ocr binary) (default rapidocr)",
    )
    extra.add_argument(
        "--redact",
        choices=REDACT_POLICIES,
        default=d.redact,
        help="how lines in the margins are judged. all-text: every line found there is "
        "redacted (default, the safe choice for margins); phi: only lines holding PHI, "
        "clinical annotations (probe, MI/TIS, depth, gain) stay. The middle of the frame "
        "is always judged by phi, unless --full-frame",
    )
    extra.add_argument(
        "--analyzer",
        choices=ANALYZERS,
        default=None,
        help="what decides that a line holds PHI under --redact phi (and in the second "
        "look): builtin (header values, dates, IDs, phone numbers, labels; the default), or "
        "presidio (the built-in rules or Presidio's analyzer; pip install "
        "'dicomscrub[presidio]')",
    )
    extra.add_argument(
        "--allow-text",
        action="append",
        default=[],
        metavar="WORD",
        help="a word never PHI by itself under --redact phi, case-insensitive (repeatable)",
    )
    extra.add_argument(
        "--deny-text",
        action="append",
        default=[],
        metavar="WORD",
        help="a word or phrase always PHI: its line is redacted, case-insensitive and with "
        "a misread character or two allowed (repeatable)",
    )
    extra.add_argument(
        "--full-frame",
        action="store_true",
        help="search the whole frame under the --redact policy (by default the margins "
        "are, and the middle of the frame is searched under the phi policy)",
    )
    extra.add_argument(
        "--margins-only",
        action="store_true",
        help="search the margins only: text in the middle of the frame is not looked for",
    )
    extra.add_argument(
        "--whole-boxes",
        action="store_true",
        help="fill each text line's whole box grown by --expand, as the original tool did "
        "(default: the grown box is fitted to the line's ink, so less around it is erased)",
    )
    extra.add_argument(
        "--templates",
        type=Path,
        default=None,
        metavar="FILE",
        help="device templates (from 'dicomscrub templates export'): files whose device "
        "signature has a template get its boxes without OCR; the second look still reads "
        "their sampled frames, redacts PHI text a template missed and fails a file whose "
        "output still shows PHI text",
    )
    extra.add_argument(
        "--no-second-look",
        action="store_true",
        help="do not search the redacted frames again (by default PHI text found then is "
        "redacted too, and a file whose output still shows PHI text after that fails "
        "instead of being released)",
    )
    extra.add_argument(
        "--tesseract-psm",
        type=int,
        default=d.tesseract_psm,
        help="Tesseract page segmentation mode (default 11; the original used 6)",
    )
    extra.add_argument(
        "--tesseract-whitelist",
        default=None,
        help="Tesseract character whitelist; 'original' = A-Z 0-9 : / . -",
    )
    extra.add_argument(
        "--no-leaf-union", action="store_true", help="redact each file with its own boxes only"
    )
    extra.add_argument("--no-progress", action="store_true", help="no progress bar")
    extra.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def header_config_from_args(
    args: argparse.Namespace, profile: ProfileFile | None = None
) -> HeaderConfig:
    """The header part of the config: options, profile file, shift range, prefix, key."""
    if profile is None and args.profile is not None:
        profile = load_profile(args.profile)
    options = resolve_options(
        profile.options if profile is not None else None, args.option, args.without_option
    )
    shift = HeaderConfig().date_shift_min_days, HeaderConfig().date_shift_max_days
    if profile is not None and profile.date_shift_days is not None:
        shift = profile.date_shift_days
    if args.date_shift_days:
        try:
            low, high = (int(v) for v in str(args.date_shift_days).split(","))
        except ValueError as exc:
            raise ConfigError("--date-shift-days takes MIN,MAX in days, e.g. -3650,-365") from exc
        shift = (low, high)
    return HeaderConfig(
        patient_prefix=getattr(args, "patient_prefix", "anon"),
        key_file=args.key_file,
        date_shift_min_days=shift[0],
        date_shift_max_days=shift[1],
        options=options,
        rules=profile.rules if profile is not None else (),
        profile_file=args.profile,
    )


def config_from_args(args: argparse.Namespace) -> DeidConfig:
    """Build the frozen config from parsed flags (over the profile file's settings)."""
    profile = load_profile(args.profile) if args.profile is not None else None
    header = header_config_from_args(args, profile)
    given = profile.pixels if profile is not None else None
    return DeidConfig(
        header=header,
        pixels=PixelConfig(
            enabled=not args.no_pixels and "clean_pixel_data" in header.options,
            samples=args.samples,
            top_ratio=args.top_ratio,
            bottom_ratio=args.bottom_ratio,
            left_ratio=args.left_ratio,
            right_ratio=args.right_ratio,
            padding_px=args.padding,
            merge_iou=args.merge_iou,
            expand_px=args.expand,
            ocr_engine=args.ocr_engine,
            redact=args.redact,
            analyzer=args.analyzer or (given and given.analyzer) or PixelConfig().analyzer,
            allow_text=_merged(given.allow_text if given else (), args.allow_text),
            deny_text=_merged(given.deny_text if given else (), args.deny_text),
            full_frame=args.full_frame,
            margins_only=args.margins_only,
            fit_ink=not args.whole_boxes,
            second_look=not args.no_second_look,
            templates=args.templates,
            tesseract_psm=args.tesseract_psm,
            tesseract_whitelist=args.tesseract_whitelist,
            leaf_union=not args.no_leaf_union,
            random_text=args.random_text,
            text_bold=args.text_bold,
        ),
        batch=BatchConfig(
            recursive=args.recursive,
            overwrite=args.overwrite,
            jobs=args.jobs,
            scheduler=args.scheduler,
            progress=not args.no_progress,
        ),
        output=OutputConfig(
            input=args.input,
            output=args.output,
            headers=args.headers,
            pdf_report=args.pdf_report,
        ),
    )


def _merged(*lists: Sequence[str]) -> tuple[str, ...]:
    """The entries of all lists, first occurrence kept, surrounding spaces off."""
    return tuple(dict.fromkeys(w.strip() for words in lists for w in words))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomscrub",
        description="De-identify DICOM files: header profile, burned-in text, audit sidecars.",
    )
    parser.add_argument("--version", action="version", version=f"dicomscrub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="de-identify a file or folder")
    add_run_arguments(run)
    describe = sub.add_parser(
        "describe",
        help="print the action each element of a file would get, and why (writes nothing)",
    )
    describe.add_argument("file", type=Path, help="a DICOM file")
    for flag in ("--option", "--without-option"):
        describe.add_argument(flag, action="append", default=[], metavar="NAME")
    describe.add_argument("--profile", type=Path, default=None, metavar="FILE")
    describe.add_argument("--date-shift-days", default=None, metavar="MIN,MAX")
    describe.add_argument("--key-file", type=Path, default=None, help=argparse.SUPPRESS)
    describe.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    crosswalk = sub.add_parser(
        "crosswalk", help="the private crosswalk of originals and pseudonyms"
    )
    crosswalk_sub = crosswalk.add_subparsers(dest="crosswalk_command", required=True)
    export = crosswalk_sub.add_parser("export", help="write the crosswalk as CSV files")
    export.add_argument("--headers", required=True, type=Path, help="the run's private folder")
    export.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the CSV files (default: <headers>/crosswalk-export); keep it private",
    )
    export.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    templates = sub.add_parser("templates", help="device templates: boxes per device signature")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True)
    t_export = templates_sub.add_parser(
        "export", help="write the boxes of a finished run as an editable templates file"
    )
    t_export.add_argument("--headers", required=True, type=Path, help="the run's private folder")
    t_export.add_argument("--out", required=True, type=Path, help="the templates file to write")
    t_export.add_argument(
        "--merge-iou", type=float, default=PixelConfig().merge_iou, help=argparse.SUPPRESS
    )
    t_export.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    demo = sub.add_parser("demo", help="generate sample data with fake PHI and de-identify it")
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("demo-output"),
        help="where samples, outputs and report go (default ./demo-output)",
    )
    demo.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    demo.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dicomscrub`` console command."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    _configure_logging(args.verbose)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "describe":
            from dicomscrub.header.describe import describe_command

            return describe_command(args, header_config_from_args(args))
        if args.command == "templates":
            from dicomscrub.pixels.templates import export_command as export_templates

            return export_templates(args.headers, args.out, args.merge_iou)
        if args.command == "crosswalk":
            from dicomscrub.audit.crosswalk import export_command

            return export_command(args)
        return _run(config_from_args(args))
    except (ConfigError, EngineUnavailableError) as exc:
        print(f"dicomscrub: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DicomScrubError as exc:
        print(f"dicomscrub: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def original_main(argv: Sequence[str] | None = None) -> int:
    """The original ``redact_dicom_image_phi.py`` command line: the same as ``dicomscrub run``."""
    return main(["run", *(sys.argv[1:] if argv is None else argv)])


def _run(config: DeidConfig) -> int:
    from dicomscrub.audit.runlog import write_run_record
    from dicomscrub.batch.run import run_batch

    config.validate()
    if not config.output.input.exists():
        raise ConfigError(f"--input {config.output.input} does not exist")
    if "clean_recognizable_visual_features" in config.header.options:
        print(
            "dicomscrub: warning: clean_recognizable_visual_features only declares that the "
            "images show no recognisable features; nothing is defaced (objects that say "
            "RecognizableVisualFeatures YES are not declared)",
            file=sys.stderr,
        )
    started = time.monotonic()
    progress = _progress_printer() if config.batch.progress else None
    summary, outcomes = run_batch(config, progress)
    elapsed = time.monotonic() - started
    write_run_record(config, summary, outcomes, elapsed)
    if config.output.pdf_report is not None:
        from dicomscrub.report.pdf import write_pdf_report

        write_pdf_report(config.output.pdf_report, summary, outcomes)
    _print_summary(summary, config, elapsed)
    return summary.exit_code


def _demo(args: argparse.Namespace) -> int:
    from dicomscrub.samples import write_sample_set

    root: Path = args.dir
    samples = root / "input"
    paths = write_sample_set(samples)
    print(f"wrote {len(paths)} sample DICOM files with fake burned-in PHI to {samples}")
    config = DeidConfig(
        batch=BatchConfig(jobs=args.jobs, overwrite=True),
        output=OutputConfig(
            input=samples,
            output=root / "output",
            headers=root / "headers",
            pdf_report=root / "report.pdf",
        ),
    )
    return _run(config)


def _progress_printer() -> Callable[[str, int, int], None]:
    """tqdm bars on a terminal; a log line per 10% otherwise."""
    bars: dict[str, object] = {}
    interactive = sys.stderr.isatty()

    def update(name: str, done: int, total: int) -> None:
        if interactive:
            from tqdm import tqdm

            bar = bars.get(name)
            if bar is None:
                bar = bars[name] = tqdm(total=total, desc=name, unit="file", file=sys.stderr)
            bar.update(1)  # type: ignore[attr-defined]
            if done == total:
                bar.close()  # type: ignore[attr-defined]
        elif total and (done == total or done * 10 // total != (done - 1) * 10 // total):
            print(f"{name}: {done}/{total} files", file=sys.stderr, flush=True)

    return update


def _print_summary(summary: RunSummary, config: DeidConfig, elapsed: float) -> None:
    print(
        f"dicomscrub: {summary.discovered} DICOM files: {summary.done} done, "
        f"{summary.skipped} skipped, {summary.failed} failed; {summary.not_dicom} other files "
        f"ignored; {summary.frames} frames, {summary.boxes} boxes redacted; {elapsed:.2f} s"
    )
    if summary.discovered == 0:
        hint = "" if config.batch.recursive else " (subfolders were not searched: --no-recursive)"
        print(f"dicomscrub: warning: no DICOM files found in the input{hint}", file=sys.stderr)
    if summary.failures:
        print("failed files (paths as they would appear in the release folder):")
        for path, reason in summary.failures:
            print(f"  {path}: {reason}")
    print(f"release folder: {config.output.output}")
    print(f"private sidecars and run record: {config.output.headers}")
    if config.output.pdf_report is not None:
        print(f"PDF report (private): {config.output.pdf_report}")


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


__all__ = ["FileOutcome", "main", "original_main"]
