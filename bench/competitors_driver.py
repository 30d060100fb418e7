"""Run one DICOM de-identification tool over a folder, header only, and time it from inside.

``bench/bench_headers.py`` starts this script once per tool and mode. It runs under the
interpreter that has the tool installed: ``bench/.venv-competitors`` for the three
competitors, the project's own ``.venv`` for ``dicomscrub-lib``. It uses only the standard
library at the top, so it imports under either.

Tools (``--tool``):

- ``dicognito``: ``Anonymizer().anonymize(ds)`` on a ``pydicom.dcmread`` dataset, then
  ``ds.save_as(out)``, as ``dicognito``'s own command line does.
- ``deid``: ``deid.dicom.replace_identifiers`` with its default recipe (``deid=None``),
  ``save=True`` into the mirrored output folder.
- ``dicomanonymizer``: ``anonymize_dicom_file(in, out, {}, delete_private_tags=True)``,
  the per-file function that ``dicomanonymizer.anonymize`` calls for each file.
- ``dicomscrub-lib``: dicomscrub's ``run_batch`` called in-process with the same settings
  as ``dicomscrub run --no-pixels --no-progress --jobs J`` (its own process pool).

The three competitors have no parallelism of their own, so every one of them goes through
the same harness: a plain loop for ``--jobs 1``, a ``multiprocessing`` pool of ``--jobs``
forked workers (one tool instance per worker, files handed out one at a time) otherwise.
A file that raises is counted as failed and the run goes on.

The result is written as JSON to ``--result`` (tools print to stdout and stderr freely):
the tool and pydicom versions, files ok and failed, the commonest failure reasons,
seconds spent importing the tool and seconds spent processing (the latter excludes
interpreter start and imports), and the peak RSS in KiB of this process and of its
largest reaped child.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: A per-file de-identification step: (input file, output file) -> None; raises on failure.
FileStep = Callable[[Path, Path], None]

PER_FILE_TOOLS = ("dicognito", "deid", "dicomanonymizer")
BATCH_TOOLS = ("dicomscrub-lib",)
_DISTRIBUTIONS = {
    "dicognito": "dicognito",
    "deid": "deid",
    "dicomanonymizer": "dicom-anonymizer",
    "dicomscrub-lib": "dicomscrub",
}
_MAX_REASONS = 5

# The step of the current process; set by make_step in the parent or in each pool worker.
_STEP: FileStep | None = None


# ---------------------------------------------------------------------------- adapters


def make_step(tool: str) -> FileStep:
    """Import ``tool`` and return its per-file step, in its default configuration."""
    if tool == "dicognito":
        return _dicognito_step()
    if tool == "deid":
        return _deid_step()
    if tool == "dicomanonymizer":
        return _dicomanonymizer_step()
    raise ValueError(f"no per-file step for {tool!r}")


def _dicognito_step() -> FileStep:
    import pydicom
    from dicognito.anonymizer import Anonymizer  # type: ignore[import-not-found]

    anonymizer = Anonymizer()  # default: a random seed per instance, so per process

    def step(src: Path, dst: Path) -> None:
        with pydicom.dcmread(src, force=False) as ds:
            anonymizer.anonymize(ds)
            ds.save_as(dst)

    return step


def _deid_step() -> FileStep:
    from deid.dicom import replace_identifiers  # type: ignore[import-not-found]

    def step(src: Path, dst: Path) -> None:
        done = replace_identifiers(
            dicom_files=[str(src)], save=True, output_folder=str(dst.parent), overwrite=True
        )
        written = Path(str(done[0])) if done else None
        if written is None or not written.is_file():
            raise RuntimeError("deid returned no written file")
        if written.resolve() != dst.resolve():  # deid names the output by the input's basename
            written.replace(dst)

    return step


def _dicomanonymizer_step() -> FileStep:
    from dicomanonymizer.simpledicomanonymizer import (  # type: ignore[import-not-found]
        anonymize_dicom_file,
    )

    def step(src: Path, dst: Path) -> None:
        anonymize_dicom_file(str(src), str(dst), {}, delete_private_tags=True)

    return step


# ---------------------------------------------------------------------------- harness


def list_inputs(root: Path) -> list[Path]:
    """Every file under ``root``, sorted, so that all tools see the same order."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def _init_worker(tool: str) -> None:
    global _STEP
    _STEP = make_step(tool)


def _process(task: tuple[Path, Path]) -> tuple[str, str | None]:
    """Run the current process's step on one file; return (input, failure reason or None)."""
    src, dst = task
    assert _STEP is not None
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        _STEP(src, dst)
    except Exception as exc:
        return str(src), _reason(exc)
    return str(src), None


def _reason(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_per_file(tool: str, inputs: Path, output: Path, jobs: int) -> dict[str, Any]:
    """Run a per-file tool over every input, in this process or on a pool of ``jobs``."""
    global _STEP
    files = list_inputs(inputs)
    tasks = [(src, output / src.relative_to(inputs)) for src in files]
    started = time.perf_counter()
    step = make_step(tool)  # import here, once: forked workers inherit the imports
    imported = time.perf_counter()
    if jobs <= 1:
        _STEP = step
        results = [_process(task) for task in tasks]
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs, initializer=_init_worker, initargs=(tool,)) as pool:
            results = list(pool.imap_unordered(_process, tasks, chunksize=1))
            pool.close()
            pool.join()
    finished = time.perf_counter()
    reasons = Counter(reason for _, reason in results if reason is not None)
    return {
        "inputs": len(files),
        "ok": sum(reason is None for _, reason in results),
        "failed": sum(reasons.values()),
        "reasons": dict(reasons.most_common(_MAX_REASONS)),
        "import_s": imported - started,
        "run_s": finished - imported,
    }


def run_dicomscrub_lib(
    inputs: Path, output: Path, headers: Path, key_file: Path, jobs: int
) -> dict[str, Any]:
    """Call dicomscrub's batch function in-process, header only, with its own pool."""
    started = time.perf_counter()
    from dicomscrub.batch.run import run_batch
    from dicomscrub.cli import build_parser, config_from_args

    argv = ["run", "--input", str(inputs), "--output", str(output), "--headers", str(headers)]
    argv += ["--key-file", str(key_file), "--no-pixels", "--no-progress", "--jobs", str(jobs)]
    config = config_from_args(build_parser().parse_args(argv))
    imported = time.perf_counter()
    summary, _ = run_batch(config)
    finished = time.perf_counter()
    reasons = Counter(reason for _, reason in summary.failures)
    return {
        "inputs": summary.discovered,
        "ok": summary.done,
        "failed": summary.failed,
        "reasons": dict(reasons.most_common(_MAX_REASONS)),
        "import_s": imported - started,
        "run_s": finished - imported,
    }


def versions(tool: str) -> dict[str, str]:
    """The installed versions of the tool and of pydicom under this interpreter."""

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "tool_version": version(_DISTRIBUTIONS[tool]),
        "pydicom": version("pydicom"),
        "python": sys.version.split()[0],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", required=True, choices=PER_FILE_TOOLS + BATCH_TOOLS)
    parser.add_argument("--input", required=True, type=Path, help="folder of DICOM files")
    parser.add_argument("--output", required=True, type=Path, help="release folder to write")
    parser.add_argument("--result", required=True, type=Path, help="where the JSON result goes")
    parser.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--headers", type=Path, help="dicomscrub-lib: private headers folder")
    parser.add_argument("--key-file", type=Path, help="dicomscrub-lib: the project key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    jobs = args.jobs if args.jobs > 0 else os.cpu_count() or 1
    result: dict[str, Any] = {"tool": args.tool, "jobs": jobs, **versions(args.tool)}
    try:
        if args.tool in BATCH_TOOLS:
            if args.headers is None or args.key_file is None:
                raise SystemExit("dicomscrub-lib needs --headers and --key-file")
            result.update(
                run_dicomscrub_lib(args.input, args.output, args.headers, args.key_file, jobs)
            )
        else:
            args.output.mkdir(parents=True, exist_ok=True)
            result.update(run_per_file(args.tool, args.input, args.output, jobs))
        result["error"] = None
    except Exception as exc:  # the whole run failed (an import error, a broken pool)
        traceback.print_exc()
        result["error"] = _reason(exc)
    result["self_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["children_maxrss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    args.result.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0 if result["error"] is None and not result.get("failed") else 1


if __name__ == "__main__":
    raise SystemExit(main())
