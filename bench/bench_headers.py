"""Header-only de-identification throughput: dicomscrub against three pip-installable tools.

Every tool de-identifies the same generated files, header only, once in one process and
once with all cores: dicomscrub through its command line (``--no-pixels``) and as a
library call, and dicognito, deid and dicom-anonymizer in their default configuration
through ``bench/competitors_driver.py``, run by the interpreter of
``bench/.venv-competitors`` (so the project's own environment stays clean). The
competitors have no parallelism of their own; the driver gives them all the same
``multiprocessing`` pool. See ``bench/README.md``.

Usage::

    python bench/bench_headers.py --setup        # create bench/.venv-competitors first
    python bench/bench_headers.py --quick        # smoke run: a few small files, no record
    python bench/bench_headers.py                # 200 files; appends to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage, generate_uid

from dicomscrub import samples

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
DRIVER = BENCH_DIR / "competitors_driver.py"
COMPETITOR_VENV = BENCH_DIR / ".venv-competitors"
COMPETITOR_PINS = ("dicognito==0.19.0", "deid==0.4.13", "dicom-anonymizer==2.1.0")
COMPETITORS = ("dicognito", "deid", "dicomanonymizer")
CLI, LIB = "dicomscrub", "dicomscrub-lib"
ALL_TOOLS = (CLI, LIB, *COMPETITORS)

# Small kinds in the order they repeat; the enhanced multi-frame files are spread among them.
_PATTERN = ("us", "ct", "cine", "cr", "sc", "us", "palette", "ct", "us", "cr")
_CINE_FRAMES = 8
_ENHANCED_SIZE = 512  # rows and columns of the enhanced multi-frame objects
_PRIVATE_CREATOR = "BENCH_FAKE 1.0"
_SAMPLE_PATIENTS = 4  # every file of the first few patients is read back after each run
_MIB = 1024 * 1024

# Runs a command in its own session and prints, as its last line, JSON with the exit code,
# wall time and the rusage of everything it waited for. A fresh wrapper per run means its
# RUSAGE_CHILDREN maxrss is the peak RSS of the largest single process of that run alone
# (Linux folds reaped grandchildren, such as pool workers, into it).
_WRAPPER = """\
import json, os, resource, signal, subprocess, sys, time
timeout = float(sys.argv[2])
with open(sys.argv[1], "wb") as log:
    start = time.perf_counter()
    child = subprocess.Popen(sys.argv[3:], stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        rc, timed_out = child.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        rc, timed_out = child.wait(), True
    wall = time.perf_counter() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "timed_out": timed_out, "wall_s": wall, "maxrss": ru.ru_maxrss,
                  "cpu_s": ru.ru_utime + ru.ru_stime}))
"""
_SUMMARY = re.compile(
    r"dicomscrub: (\d+) DICOM files: (\d+) done, \d+ skipped, (\d+) failed;.*; ([\d.]+) s"
)


# ---------------------------------------------------------------------------- the set


@dataclass(frozen=True, slots=True)
class InputFile:
    """One generated file and the original values that must not survive de-identification."""

    relpath: str
    kind: str
    frames: int
    size: int
    patient: int
    phi_tokens: frozenset[str]
    sop_uid: str


@dataclass(frozen=True, slots=True)
class InputSet:
    """The generated input folder."""

    root: Path
    files: tuple[InputFile, ...]
    seconds: float

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return dict(sorted(counts.items()))

    def largest(self) -> InputFile:
        return max(self.files, key=lambda f: f.size)

    def smallest(self) -> InputFile:
        return min(self.files, key=lambda f: f.size)

    def sampled(self) -> list[InputFile]:
        """The files read back after each run: every file of the first few patients and
        every enhanced multi-frame file."""
        return [f for f in self.files if f.patient < _SAMPLE_PATIENTS or f.kind == "enhanced"]

    def describe(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.kinds.items())
        frames = sum(f.frames for f in self.files)
        return (
            f"{len(self.files)} files, {frames} frames, {self.total_bytes / _MIB:.0f} MiB ({kinds})"
        )


def make_enhanced_ct(
    patient: samples.FakePatient,
    *,
    frames: int,
    size: int = _ENHANCED_SIZE,
    study_uid: str,
    uid_seed: str,
) -> FileDataset:
    """An Enhanced CT-like object: ``frames`` frames of ``size`` x ``size`` 12-bit pixels.

    The header comes from :func:`dicomscrub.samples.make_ct` (the patient's PHI, nested
    sequences, a private block); the per-slice attributes move into functional groups.
    Every item of the PerFrameFunctionalGroupsSequence holds frame content (with a
    date-time), position, a source image reference (a UID) and a private block naming the
    patient, so the per-element cost of a tool shows. The pixel data is a cheap pattern:
    nobody decodes it.
    """
    ds = samples.make_ct(patient, rows=64, cols=64, study_uid=study_uid, uid_seed=uid_seed).dataset
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        delattr(ds, keyword)
    for keyword in ("SliceThickness", "RescaleIntercept", "RescaleSlope", "RescaleType"):
        delattr(ds, keyword)
    for keyword in ("WindowCenter", "WindowWidth"):
        delattr(ds, keyword)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.AcquisitionDateTime = f"{patient.study_date}{patient.study_time}"

    pattern = (np.arange(size * size, dtype=np.uint32) % 4096).reshape(size, size)
    pixels = (pattern[None] + np.arange(frames, dtype=np.uint32)[:, None, None]) & 0x0FFF
    ds.set_pixel_data(pixels.astype(np.uint16), "MONOCHROME2", 12, generate_instance_uid=False)

    def uid(part: str) -> str:
        return str(generate_uid(entropy_srcs=[uid_seed, part]))

    organization = uid("dimension-organization")
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=organization)]
    ds.DimensionIndexSequence = [
        _item(
            DimensionOrganizationUID=organization,
            DimensionIndexPointer=pointer,
            FunctionalGroupPointer=group,
        )
        for pointer, group in ((0x00209056, 0x00209111), (0x00209057, 0x00209111))
    ]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[_item(PixelSpacing=["0.7", "0.7"], SliceThickness="1")],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])],
            PixelValueTransformationSequence=[
                _item(RescaleIntercept="-1024", RescaleSlope="1", RescaleType="HU")
            ],
            FrameVOILUTSequence=[_item(WindowCenter="40", WindowWidth="400")],
        )
    ]
    per_frame = []
    for k in range(frames):
        content = _item(
            FrameAcquisitionNumber=k + 1,
            FrameReferenceDateTime=f"{patient.study_date}{patient.study_time}.{k:06d}",
            FrameAcquisitionDateTime=f"{patient.study_date}{patient.study_time}.{k:06d}",
            FrameAcquisitionDuration=500.0,
            StackID="1",
            InStackPositionNumber=k + 1,
            DimensionIndexValues=[1, k + 1],
        )
        source = _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(f"{k}"))
        derivation = _item(SourceImageSequence=[source], DerivationDescription="resampled")
        item = _item(
            FrameContentSequence=[content],
            PlanePositionSequence=[_item(ImagePositionPatient=[-179.2, -179.2, -0.5 * k])],
            DerivationImageSequence=[derivation],
        )
        block = item.private_block(0x0021, _PRIVATE_CREATOR, create=True)
        block.add_new(0x10, "LO", f"{patient.name} slice {k + 1}")
        block.add_new(0x11, "DS", f"{0.5 * k:.1f}")
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    return ds


def _item(**elements: object) -> Dataset:
    """A sequence item with the given elements, set by keyword (unknown keywords raise)."""
    item = Dataset()
    for keyword, value in elements.items():
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"not a DICOM keyword: {keyword}")
        setattr(item, keyword, value)
    return item


def plan_kinds(files: int, large: int) -> list[str]:
    """The kind of each file: the small kinds cycle; ``large`` enhanced files spread evenly."""
    if not 0 <= large <= files:
        raise ValueError(f"--large must be between 0 and --files ({files}), not {large}")
    spots = {(2 * i + 1) * files // (2 * large) for i in range(large)}
    small = iter(_PATTERN[i % len(_PATTERN)] for i in range(files))
    return ["enhanced" if i in spots else next(small) for i in range(files)]


def generate_set(root: Path, files: int, large: int, large_frames: int, seed: int) -> InputSet:
    """Write the input set under ``root``: the same bytes for every tool and every run.

    Files of one patient share one study, so that a tool's consistency inside a run can be
    checked from its outputs.
    """
    started = time.perf_counter()
    kinds = plan_kinds(files, large)
    people = samples.fake_patients(min(files, 80), seed)
    written = []
    for i, kind in enumerate(kinds):
        who = i % len(people)
        patient = people[who]
        study_uid = str(generate_uid(entropy_srcs=[f"bench-headers-{seed}", "study", str(who)]))
        ids: dict[str, Any] = {"seed": seed * 100_003 + i, "uid_seed": f"bench-{seed}-{i}"}
        folder, ds = _make(kind, patient, study_uid, ids, large_frames)
        relpath = f"{folder}/{kind}_{i + 1:04d}.dcm"
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        dcmwrite(path, ds, enforce_file_format=True)
        tokens = {*patient.name_parts[:2], patient.patient_id, patient.accession}
        tokens.add(patient.birth_date)
        written.append(
            InputFile(
                relpath=relpath,
                kind=kind,
                frames=int(ds.get("NumberOfFrames", 1) or 1),
                size=path.stat().st_size,
                patient=who,
                phi_tokens=frozenset(t.upper() for t in tokens),
                sop_uid=str(ds.SOPInstanceUID),
            )
        )
    return InputSet(root, tuple(written), time.perf_counter() - started)


def _make(
    kind: str,
    patient: samples.FakePatient,
    study_uid: str,
    ids: dict[str, Any],
    large_frames: int,
) -> tuple[str, FileDataset]:
    """The folder and dataset of one file of ``kind``."""
    if kind == "enhanced":
        uid_seed = str(ids["uid_seed"])
        ds = make_enhanced_ct(patient, frames=large_frames, study_uid=study_uid, uid_seed=uid_seed)
        return "site_d/enhanced_ct", ds
    if kind in ("us", "cine"):
        frames = _CINE_FRAMES if kind == "cine" else 1
        sample = samples.make_ultrasound(patient, frames=frames, study_uid=study_uid, **ids)
        return "site_a/us", sample.dataset
    if kind == "ct":
        return "site_b/ct", samples.make_ct(
            patient, rows=512, cols=512, study_uid=study_uid, **ids
        ).dataset
    if kind == "cr":
        return "site_b/cr", samples.make_cr_mono1(patient, study_uid=study_uid, **ids).dataset
    if kind == "sc":
        sample = samples.make_secondary_capture(patient, study_uid=study_uid, **ids)
        return "site_c/sc", sample.dataset
    return "site_c/sc", samples.make_palette(patient, study_uid=study_uid, **ids).dataset


# ---------------------------------------------------------------------------- one run


@dataclass(slots=True)
class OutputCheck:
    """What a sample of one run's outputs looks like when read back."""

    sampled: int = 0
    missing: int = 0
    unreadable: int = 0
    uid_kept: int = 0
    uid_removed: int = 0
    phi_left: int = 0
    private_left: int = 0
    split_studies: int = 0
    uids: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Run:
    """One measured run of one tool in one mode."""

    tool: str
    jobs: int
    command: list[str]
    log: Path
    exit_code: int = 0
    timed_out: bool = False
    wall_s: float = 0.0
    run_s: float | None = None
    cpu_s: float = 0.0
    maxrss_kib: int = 0
    ok: int = 0
    failed: int = 0
    outputs: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    check: OutputCheck | None = None
    round: int = 1
    spread: tuple[float, float] | None = None  # fastest and slowest in-process seconds

    @property
    def files_per_s(self) -> float | None:
        return self.ok / self.run_s if self.run_s and self.ok else None

    @property
    def wall_files_per_s(self) -> float | None:
        return self.ok / self.wall_s if self.wall_s and self.ok else None


def wrapped(cmd: Sequence[str], log: Path, timeout: float) -> dict[str, Any]:
    """Run ``cmd`` inside a fresh wrapper process; return its exit code, times and maxrss."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(log), str(timeout), *cmd],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        data = {"rc": -1, "timed_out": False, "wall_s": 0.0, "maxrss": 0, "cpu_s": 0.0}
    return data


def dicomscrub_command(inputs: Path, out: Path, headers: Path, key: Path, jobs: int) -> list[str]:
    """The measured dicomscrub command line (``--jobs 0``: all cores)."""
    cmd = [sys.executable, "-m", "dicomscrub", "run", "--input", str(inputs)]
    cmd += ["--output", str(out), "--headers", str(headers), "--key-file", str(key)]
    return [*cmd, "--no-pixels", "--jobs", str(jobs), "--no-progress"]


def driver_command(
    python: Path, tool: str, inputs: Path, out: Path, result: Path, jobs: int, extra: list[str]
) -> list[str]:
    """The command line of one driver run."""
    cmd = [str(python), str(DRIVER), "--tool", tool, "--input", str(inputs)]
    return [*cmd, "--output", str(out), "--result", str(result), "--jobs", str(jobs), *extra]


def run_tool(
    tool: str, jobs: int, inputs: InputSet, run_dir: Path, python: Path, key: Path, timeout: float
) -> Run:
    """Run ``tool`` once over the whole set with ``jobs`` processes (0: all cores)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    # Every tool starts with the disk's write-back of the previous runs (and the deletes
    # above) done, so that no run pays for another's output.
    os.sync()
    out, headers, result = run_dir / "output", run_dir / "headers", run_dir / "result.json"
    if tool == CLI:
        cmd = dicomscrub_command(inputs.root, out, headers, key, jobs)
    else:
        extra = ["--headers", str(headers), "--key-file", str(key)] if tool == LIB else []
        interpreter = Path(sys.executable) if tool == LIB else python
        cmd = driver_command(interpreter, tool, inputs.root, out, result, jobs, extra)
    run = Run(tool=tool, jobs=jobs or os.cpu_count() or 1, command=cmd, log=run_dir / "tool.log")
    data = wrapped(cmd, run.log, timeout)
    run.exit_code, run.timed_out = int(data["rc"]), bool(data["timed_out"])
    run.wall_s, run.cpu_s, run.maxrss_kib = data["wall_s"], data["cpu_s"], int(data["maxrss"])
    if tool == CLI:
        _read_summary(run)
    else:
        _read_result(run, result)
    run.outputs = sum(1 for p in out.rglob("*") if p.is_file()) if out.is_dir() else 0
    if run.timed_out:
        run.problems.append(f"timed out after {timeout:.0f} s")
    if run.outputs != len(inputs.files):
        run.problems.append(f"{run.outputs} outputs for {len(inputs.files)} inputs")
    if run.failed:
        run.problems.append(f"{run.failed} files failed: {run.reasons}")
    if run.exit_code != 0 and not run.timed_out and not run.failed:
        run.problems.append(f"exit code {run.exit_code} (log: {run.log})")
    run.check = check_outputs(inputs, out)
    return run


def _read_summary(run: Run) -> None:
    """Counts and in-process seconds from dicomscrub's summary line."""
    text = run.log.read_text(encoding="utf-8", errors="replace")
    match = _SUMMARY.search(text)
    if match is None:
        run.problems.append(f"no summary line (log: {run.log})")
        return
    run.ok, run.failed, run.run_s = int(match[2]), int(match[3]), float(match[4])
    failures = re.findall(r"^  \S.*?: (.+)$", text, re.MULTILINE)
    for reason in failures:
        run.reasons[reason] = run.reasons.get(reason, 0) + 1


def _read_result(run: Run, result: Path) -> None:
    """Counts, versions and in-process seconds from the driver's JSON result."""
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        run.problems.append(f"no driver result (log: {run.log})")
        return
    if data.get("error"):
        run.problems.append(f"run failed: {data['error']} (log: {run.log})")
    run.ok, run.failed = int(data.get("ok", 0)), int(data.get("failed", 0))
    run.run_s = data.get("run_s")
    run.reasons = dict(data.get("reasons", {}))
    run.versions = {k: str(data[k]) for k in ("tool_version", "pydicom", "python") if k in data}


# ---------------------------------------------------------------------------- checks


def check_outputs(inputs: InputSet, out: Path) -> OutputCheck:
    """Read back the sampled outputs: is the SOP Instance UID changed (or removed), are
    the original name, ID, accession or birth date left anywhere (as a whole word, at any
    depth, private elements included), are private data elements left, and do a patient's
    files still share one study?"""
    check = OutputCheck()
    studies: dict[int, set[str]] = {}
    for original in inputs.sampled():
        check.sampled += 1
        path = out / original.relpath
        if not path.is_file():
            check.missing += 1
            continue
        try:
            ds = dcmread(path, stop_before_pixels=True, force=True)
        except Exception:
            check.unreadable += 1
            continue
        sop = str(ds.get("SOPInstanceUID", "") or "")
        check.uids[original.relpath] = sop
        check.uid_kept += sop == original.sop_uid
        check.uid_removed += not sop
        values = list(_walk(ds))
        check.private_left += any(private for private, _ in values)
        tokens = {t for _, text in values for t in re.split(r"[^A-Za-z0-9]+", text.upper())}
        check.phi_left += bool(tokens & original.phi_tokens)
        studies.setdefault(original.patient, set()).add(str(ds.get("StudyInstanceUID", "")))
    check.split_studies = sum(len(uids) > 1 for uids in studies.values())
    return check


def _walk(ds: Dataset) -> Iterator[tuple[bool, str]]:
    """(is private data, value as text) of every element at every depth, file meta
    included. A private creator alone (a vendor's name) does not count as private data."""
    meta = getattr(ds, "file_meta", None)
    for dataset in (meta, ds) if meta is not None else (ds,):
        for elem in dataset.iterall():
            private = elem.tag.is_private and not elem.tag.is_private_creator
            if elem.VR == "SQ" or isinstance(elem.value, bytes | bytearray):
                yield private, ""
                continue
            try:
                text = str(elem.value)
            except Exception:
                text = ""
            yield private, text


def pick_best(runs: Sequence[Run]) -> list[Run]:
    """Per tool and mode, the repeat with the shortest in-process time (clean runs first).

    The chosen run carries the spread of in-process seconds over the repeats and the
    largest peak RSS seen in any of them.
    """
    groups: dict[tuple[str, int], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.tool, r.jobs), []).append(r)
    best = []
    for group in groups.values():
        chosen = min(group, key=lambda r: (bool(r.problems), r.run_s or float("inf")))
        times = [r.run_s for r in group if r.run_s is not None and not r.problems]
        chosen.spread = (min(times), max(times)) if times else None
        chosen.maxrss_kib = max(r.maxrss_kib for r in group)
        best.append(chosen)
    return best


def same_uids(runs: Sequence[Run]) -> str:
    """Whether a tool's runs gave every sampled file the same SOP Instance UID."""
    maps = [{k: v for k, v in r.check.uids.items() if v} for r in runs if r.check is not None]
    maps = [m for m in maps if m]  # a removed UID cannot be compared
    if len(maps) < 2:
        return "n/a"
    shared = set.intersection(*(set(m) for m in maps))
    if not shared:
        return "n/a"
    return "yes" if all(len({m[k] for m in maps}) == 1 for k in shared) else "no"


# ---------------------------------------------------------------------------- memory


@dataclass(frozen=True, slots=True)
class MemoryProbe:
    """dicomscrub ``--no-pixels --jobs 1`` on one file."""

    file: InputFile
    maxrss_kib: int
    exit_code: int


def probe_memory(inputs: InputSet, work: Path, key: Path, timeout: float) -> list[MemoryProbe]:
    """Peak RSS of dicomscrub on the smallest and the largest file, one at a time."""
    probes = []
    for label, chosen in (("smallest", inputs.smallest()), ("largest", inputs.largest())):
        run_dir = work / f"memory-{label}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        single = run_dir / "input"
        single.mkdir()
        os.link(inputs.root / chosen.relpath, single / Path(chosen.relpath).name)
        cmd = dicomscrub_command(single, run_dir / "output", run_dir / "headers", key, 1)
        data = wrapped(cmd, run_dir / "tool.log", timeout)
        probes.append(MemoryProbe(chosen, int(data["maxrss"]), int(data["rc"])))
    return probes


# ---------------------------------------------------------------------------- reporting


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _label(run: Run) -> str:
    return {CLI: "dicomscrub (CLI)", LIB: "dicomscrub (library call)"}.get(run.tool, run.tool)


def _mode(run: Run) -> str:
    return "1 process" if run.jobs == 1 else f"{run.jobs} processes"


def _reference(runs: Sequence[Run], jobs: int) -> Run | None:
    """dicomscrub's CLI run with ``jobs`` processes: what the ratios compare against."""
    return next((r for r in runs if r.tool == CLI and r.jobs == jobs and not r.problems), None)


def throughput_table(runs: Sequence[Run], inputs: InputSet) -> str:
    """The main table: speed, ratios against dicomscrub's CLI, peak RSS."""
    lines = [
        "| tool | mode | files | done | failed | outputs | seconds (in-process) "
        "| in-process s over repeats | seconds (wall, with start-up) | files/s (in-process) "
        "| dicomscrub ÷ tool (in-process) | dicomscrub ÷ tool (wall) | peak RSS MiB |",
        "|" + "---|" * 13,
    ]
    for r in runs:
        ref = _reference(runs, r.jobs)
        ratio = ratio_wall = None
        if ref is not None and not r.problems:
            if ref.files_per_s and r.files_per_s:
                ratio = ref.files_per_s / r.files_per_s
            if ref.wall_files_per_s and r.wall_files_per_s:
                ratio_wall = ref.wall_files_per_s / r.wall_files_per_s
        spread = f"{r.spread[0]:.2f}–{r.spread[1]:.2f}" if r.spread else "-"
        lines.append(
            f"| {_label(r)} | {_mode(r)} | {len(inputs.files)} | {r.ok} | {r.failed} "
            f"| {r.outputs} | {_num(r.run_s, 2)} | {spread} | {_num(r.wall_s, 2)} "
            f"| {_num(r.files_per_s)} | {_num(ratio, 2)} | {_num(ratio_wall, 2)} "
            f"| {r.maxrss_kib / 1024:.0f} |"
        )
    return "\n".join(lines)


def checks_table(runs: Sequence[Run], every: Sequence[Run]) -> str:
    """What the sampled outputs of each chosen run look like; UIDs are compared over
    ``every`` run (all repeats and modes; dicomscrub's CLI and library runs share a key)."""
    lines = [
        "| tool | mode | sampled | missing or unreadable | SOPInstanceUID unchanged "
        "| SOPInstanceUID removed | original PHI left | private data left "
        "| patients split over studies | same UIDs in the tool's other runs |",
        "|" + "---|" * 10,
    ]
    for r in runs:
        c = r.check or OutputCheck()
        group = [x for x in every if x.tool == r.tool or {x.tool, r.tool} == {CLI, LIB}]
        lines.append(
            f"| {_label(r)} | {_mode(r)} | {c.sampled} | {c.missing + c.unreadable} "
            f"| {c.uid_kept} | {c.uid_removed} | {c.phi_left} | {c.private_left} "
            f"| {c.split_studies} "
            f"| {same_uids(group)} |"
        )
    return "\n".join(lines)


def memory_table(probes: Sequence[MemoryProbe]) -> str:
    """dicomscrub's peak RSS on a small and on the largest file."""
    lines = [
        "| file | kind | frames | size MiB | peak RSS MiB | exit |",
        "|---|---|---|---|---|---|",
    ]
    for p in probes:
        lines.append(
            f"| {Path(p.file.relpath).name} | {p.file.kind} | {p.file.frames} "
            f"| {p.file.size / _MIB:.1f} | {p.maxrss_kib / 1024:.0f} | {p.exit_code} |"
        )
    return "\n".join(lines)


def _copy_one(job: tuple[str, str]) -> None:
    """Copy one whole file with dicomscrub's own kernel copy of pixel data."""
    from dicomscrub.io.pixelstream import _copy_range

    source, target = job
    with open(target, "wb") as dst:
        _copy_range(Path(source), dst, 0, Path(source).stat().st_size)


def copy_floor(inputs: InputSet, work: Path, jobs: int, repeat: int) -> float:
    """Seconds to copy every input file (its bytes only, in the kernel, with ``jobs``
    processes, fastest of ``repeat`` runs after ``sync``): the part of a header-only run
    that more processes cannot shorten where the machine's file copies do not scale."""
    import multiprocessing

    target = work / f"copy-floor-{jobs}"
    best = float("inf")
    for _ in range(repeat):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        todo = [(str(inputs.root / f.relpath), str(target / f"{n}.dcm"))
                for n, f in enumerate(inputs.files)]  # fmt: skip
        subprocess.run(["sync"], check=False)
        started = time.perf_counter()
        if jobs == 1:
            for job in todo:
                _copy_one(job)
        else:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                pool.map(_copy_one, todo, chunksize=4)
        best = min(best, time.perf_counter() - started)
    shutil.rmtree(target, ignore_errors=True)
    return best


def scaling_table(runs: Sequence[Run], floors: dict[int, float]) -> str:
    """dicomscrub's CLI against the copy floor: how close more processes come to the
    best that a floor which does not shrink allows (Amdahl: the floor, plus the rest of
    the one-process time shared out over the processes)."""
    one = _reference(runs, 1)
    if one is None or one.run_s is None or 1 not in floors:
        return "(no clean one-process dicomscrub run: no scaling table)"
    lines = [
        "| processes | copying the input files alone, s | dicomscrub CLI, s (in-process) "
        "| speed-up over 1 process | best possible with this floor, s | speed-up possible |",
        "|---|---|---|---|---|---|",
    ]
    for jobs, floor in sorted(floors.items()):
        ref = _reference(runs, jobs)
        if ref is None or ref.run_s is None:
            continue
        possible = floor + max(0.0, one.run_s - floors[1]) / jobs
        lines.append(
            f"| {jobs} | {floor:.2f} | {ref.run_s:.2f} | {one.run_s / ref.run_s:.2f}x "
            f"| {possible:.2f} | {one.run_s / possible:.2f}x |"
        )
    return "\n".join(lines)


def verdict(runs: Sequence[Run]) -> str:
    """Is dicomscrub, one process, at least 3x the fastest competitor in one process?"""
    ref = _reference(runs, 1)
    rivals = [r for r in runs if r.tool in COMPETITORS and r.jobs == 1 and r.files_per_s]
    rivals = [r for r in rivals if not r.problems]
    if ref is None or not ref.files_per_s or not rivals:
        return "verdict: not enough clean single-process runs to compare"
    best = max(rivals, key=lambda r: r.files_per_s or 0.0)
    assert best.files_per_s is not None
    ratio = ref.files_per_s / best.files_per_s
    met = "meets" if ratio >= 3 else "does NOT meet"
    return (
        f"verdict: dicomscrub (CLI, 1 process) {ref.files_per_s:.1f} files/s; fastest "
        f"competitor in 1 process: {best.tool} {best.files_per_s:.1f} files/s; ratio "
        f"{ratio:.2f}x, which {met} the >= 3x target"
    )


def versions_line(runs: Sequence[Run]) -> str:
    """Tool and pydicom versions as each run reported them."""
    import pydicom

    import dicomscrub

    seen = {CLI: f"dicomscrub {dicomscrub.__version__} (pydicom {pydicom.__version__})"}
    for r in runs:
        if r.tool in COMPETITORS and r.versions and r.tool not in seen:
            v = r.versions
            seen[r.tool] = f"{r.tool} {v.get('tool_version')} (pydicom {v.get('pydicom')})"
    return ", ".join(seen.values())


def problems_text(runs: Sequence[Run]) -> str:
    lines = [f"- {_label(r)}, {_mode(r)}, round {r.round}: {p}" for r in runs for p in r.problems]
    return "\n".join(lines) if lines else "- none"


def _date() -> str:
    """The date as ``date`` prints it (datetime when ``date`` is missing)."""
    try:
        done = subprocess.run(["date"], capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return dt.datetime.now().astimezone().strftime("%a %b %d %H:%M:%S %Z %Y")


def _nproc() -> str:
    try:
        done = subprocess.run(["nproc"], capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return str(os.cpu_count())


def report(
    every: Sequence[Run],
    inputs: InputSet,
    probes: Sequence[MemoryProbe],
    floors: dict[int, float],
    argv: Sequence[str],
    seconds: float,
    load: str,
) -> str:
    """The markdown section printed and appended to RESULTS.md."""
    from run_bench import machine_info

    info = machine_info()
    runs = pick_best(every)
    repeats = max((r.round for r in every), default=1)
    example = next((r.command for r in runs if r.tool == CLI), [])
    driver = next((r.command for r in runs if r.tool in COMPETITORS), [])
    return "\n".join(
        [
            f"## {_date()}, {_nproc()} cores: header-only comparison (bench_headers.py)",
            "",
            f"- machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, "
            f"{info['os']}; Python {info['python']}; commit {info['commit']}",
            f"- load average (1, 5, 15 min) before the runs: {load}",
            f"- versions: {versions_line(runs)}",
            f"- command: `{shlex.join(['python', *argv])}` (whole benchmark {seconds:.0f} s)",
            f"- set: {inputs.describe()}, generated in {inputs.seconds:.0f} s",
            f"- dicomscrub run: `{shlex.join(_short(example))}`",
            f"- competitor run: `{shlex.join(_short(driver))}`",
            f"- each tool and mode ran {repeats} time(s), in turn, each after `sync` (the "
            "previous runs' write-back done); the table shows the fastest "
            "run (in-process seconds: dicomscrub's own summary line for the CLI, the driver's "
            "clock around the processing for the others, interpreter start and imports "
            "excluded); peak RSS is the largest single process, the worst over the repeats; "
            "`dicomscrub ÷ tool` above 1 means dicomscrub is faster in that mode",
            "",
            throughput_table(runs, inputs),
            "",
            verdict(runs),
            "",
            "Scaling: the output must hold every pixel byte, so a header-only run copies "
            "the set's bytes; where that copy takes as long with more processes, it bounds "
            "the speed-up:",
            "",
            scaling_table(runs, floors),
            "",
            "Sampled outputs read back (every file of the first "
            f"{_SAMPLE_PATIENTS} patients and every enhanced file):",
            "",
            checks_table(runs, every),
            "",
            "dicomscrub `--no-pixels --jobs 1` on a single file:",
            "",
            memory_table(probes),
            "",
            "Problems:",
            "",
            problems_text(every),
            "",
        ]
    )


def _short(cmd: Sequence[str]) -> list[str]:
    """The command with interpreters and the temporary folder written short."""
    out = []
    for part in cmd:
        path = Path(part)
        if part == sys.executable:
            out.append("python")
        elif path.is_absolute() and path.is_relative_to(REPO_ROOT):
            out.append(path.relative_to(REPO_ROOT).as_posix())
        elif path.is_absolute() and path.is_relative_to(tempfile.gettempdir()):
            out.append("$TMP/" + path.relative_to(tempfile.gettempdir()).as_posix())
        else:
            out.append(part)
    return out


# ---------------------------------------------------------------------------- main


def setup_competitors(venv: Path) -> Path:
    """Create the competitors' virtual environment with the pinned versions."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *COMPETITOR_PINS], check=True)
    return python


def parse_tools(text: str) -> list[str]:
    tools = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tools if t not in ALL_TOOLS]
    if unknown or not tools:
        raise argparse.ArgumentTypeError(f"tools are {', '.join(ALL_TOOLS)}, not {text}")
    return tools


def build_parser() -> argparse.ArgumentParser:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, help="files in the set (default 200; --quick 12)")
    parser.add_argument(
        "--large", type=int, help="enhanced multi-frame files among them (default 4; --quick 1)"
    )
    parser.add_argument(
        "--large-frames",
        type=int,
        help=f"frames of {_ENHANCED_SIZE}x{_ENHANCED_SIZE} 16-bit per enhanced file "
        "(default 256; --quick 24)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default 0)")
    parser.add_argument(
        "--jobs", type=int, default=cores, help=f"processes of the parallel mode (default {cores})"
    )
    parser.add_argument(
        "--repeat", type=int, help="runs per tool and mode, fastest kept (default 3; --quick 1)"
    )
    parser.add_argument(
        "--tools",
        type=parse_tools,
        default=list(ALL_TOOLS),
        help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default all)",
    )
    parser.add_argument(
        "--competitors-python",
        type=Path,
        default=COMPETITOR_VENV / "bin" / "python",
        help="interpreter that has the competitors (default bench/.venv-competitors)",
    )
    parser.add_argument(
        "--setup", action="store_true", help="create bench/.venv-competitors and install pins"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per run before it is killed"
    )
    parser.add_argument("--tmp", type=Path, help="parent of the temporary work folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and outputs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 small files")
    parser.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        help="append the section to bench/RESULTS.md (default: yes, except with --quick)",
    )
    return parser


def _progress_line(run: Run) -> str:
    problems = f"; problems: {'; '.join(run.problems)}" if run.problems else ""
    return (
        f"{_num(run.run_s, 2)} s in-process, {run.wall_s:.2f} s wall, "
        f"{_num(run.files_per_s)} files/s, {run.ok} done, {run.failed} failed, "
        f"peak RSS {run.maxrss_kib / 1024:.0f} MiB{problems}"
    )


def _load_average() -> str:
    """Other work on the machine skews the numbers; the record says how busy it was."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    files = args.files if args.files is not None else 12 if args.quick else 200
    large = args.large if args.large is not None else 1 if args.quick else 4
    frames = args.large_frames if args.large_frames is not None else 24 if args.quick else 256
    record = args.record if args.record is not None else not args.quick
    repeat = args.repeat if args.repeat is not None else 1 if args.quick else 3
    if files < 1 or frames < 1 or args.jobs < 1 or repeat < 1 or not 0 <= large <= files:
        print("bench_headers: need --files, --jobs, --repeat >= 1 and 0 <= --large <= --files")
        return 2
    python = args.competitors_python
    if args.setup:
        python = setup_competitors(COMPETITOR_VENV)
    if any(t in COMPETITORS for t in args.tools) and not python.exists():
        print(
            f"bench_headers: {python} is missing; run with --setup, or: python -m venv "
            f"bench/.venv-competitors && bench/.venv-competitors/bin/pip install "
            f"{' '.join(COMPETITOR_PINS)}",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    load = _load_average()
    work = Path(tempfile.mkdtemp(prefix="bench-headers-", dir=args.tmp))
    try:
        inputs = generate_set(work / "input", files, large, frames, args.seed)
        print(f"set: {inputs.describe()}, generated in {inputs.seconds:.1f} s: {inputs.root}")
        key = work / "dicomscrub.key"  # one key: dicomscrub's runs must agree on every UID
        modes = list(dict.fromkeys([1, args.jobs]))
        runs = []
        for round_ in range(1, repeat + 1):
            for tool in args.tools:
                for jobs in modes:
                    run_dir = work / "runs" / f"{tool}-jobs{jobs}-round{round_}"
                    print(f"round {round_}: {tool}, {jobs} process(es) ...", flush=True)
                    run = run_tool(tool, jobs, inputs, run_dir, python, key, args.timeout)
                    run.round = round_
                    print(f"  {_progress_line(run)}", flush=True)
                    runs.append(run)
                    if not args.keep:
                        shutil.rmtree(run_dir / "output", ignore_errors=True)
        probes = probe_memory(inputs, work, key, args.timeout) if CLI in args.tools else []
        floors = {}
        if CLI in args.tools:
            for jobs in modes:
                print(f"copying the input files alone, {jobs} process(es) ...", flush=True)
                floors[jobs] = copy_floor(inputs, work, jobs, repeat)
                print(f"  {floors[jobs]:.2f} s", flush=True)
        elapsed = time.perf_counter() - started
        argv_shown = ["bench/bench_headers.py", *argv]
        section = report(runs, inputs, probes, floors, argv_shown, elapsed, load)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(section)
    if record:
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write("\n" + section)
        print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
