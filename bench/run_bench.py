"""Benchmark the whole ``dicomscrub run`` command on a generated, seeded set of files.

Each configuration runs as ``python -m dicomscrub run ... --overwrite --no-progress
--jobs J`` in its own fresh wrapper process, so that the wrapper's ``RUSAGE_CHILDREN``
holds that run alone: its ``ru_maxrss`` is the peak resident set of the largest single
process of the run's tree (the tool, its pool workers, the tesseract processes they start;
Linux folds reaped grandchildren into it). While a run goes on, ``/proc`` is sampled to
tell which process that was. See ``bench/README.md``.

Usage::

    python bench/run_bench.py                      # default set, jobs 1 and all cores
    python bench/run_bench.py --quick              # smoke test: a few small files
    python bench/run_bench.py --jobs-list 1,2 --record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORK = BENCH_DIR / "work"
RESULTS = BENCH_DIR / "RESULTS.md"
SET_FORMAT = 1  # bump when the generated set changes, so cached sets are rebuilt

# Kinds in the order they repeat, every 10 files: any prefix of 5 or more holds every kind.
_PATTERN = ("us", "ct", "cine", "cr", "sc", "us", "us", "ct", "us", "us")
_US_PER_FOLDER = 5
_SAMPLE_EVERY_S = 0.2
_RESULTS_HEAD = """\
# Benchmark results

Appended by `python bench/run_bench.py --record` (the whole tool) and
`python bench/bench_headers.py` (header-only comparison with other tools), oldest first.
How to read a section, and the targets the numbers are held to: [README.md](README.md).

"""

# Runs the tool and prints, as its last line, JSON with the run's exit code, wall time and
# the rusage of everything it waited for (the tool and, through it, the tool's children).
_WRAPPER = """\
import json, resource, subprocess, sys, time
with open(sys.argv[1], "wb") as log:
    start = time.perf_counter()
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "maxrss": ru.ru_maxrss,
                  "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One file of the generated set."""

    relpath: str
    kind: str
    frames: int


@dataclass(frozen=True, slots=True)
class GeneratedSet:
    """The generated input folder and what is in it."""

    root: Path
    files: int
    frames: int
    kinds: dict[str, int]
    seconds: float
    reused: bool


@dataclass(slots=True)
class RunResult:
    """One measured run of the tool."""

    label: str
    jobs: int
    pixels: bool
    command: list[str]
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    sampled_mib: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    outputs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def largest(self) -> str:
        """Which process the peak belongs to, as far as sampling could tell."""
        if not self.sampled_mib:
            return "not sampled"
        role, mib = max(self.sampled_mib.items(), key=lambda item: item[1])
        if self.peak_rss_mib > 1.1 * mib + 5:
            return f"short-lived process not caught by sampling (largest seen: {role})"
        return role


# ---------------------------------------------------------------------------- the set


def plan_set(files: int, cine_frames: int) -> list[PlannedFile]:
    """Which file goes where: kinds cycle through ``_PATTERN``; ultrasounds share folders.

    Single-frame ultrasounds fill leaf folders of five (one device and probe per folder);
    each cine joins one of those folders, as a scanner's exports would.
    """
    kinds = [_PATTERN[i % len(_PATTERN)] for i in range(files)]
    rooms = max(1, -(-kinds.count("us") // _US_PER_FOLDER))
    counters: dict[str, int] = {}
    plan = []
    for i, kind in enumerate(kinds):
        k = counters.get(kind, 0)
        counters[kind] = k + 1
        if kind == "us":
            folder, frames = f"site_a/us_room{k // _US_PER_FOLDER + 1:02d}", 1
        elif kind == "cine":
            folder, frames = f"site_a/us_room{k % rooms + 1:02d}", cine_frames
        elif kind == "ct":
            folder, frames = "site_b/ct", 1
        elif kind == "cr":
            folder, frames = "site_b/cr", 1
        else:
            kind = "sc" if k % 2 == 0 else "palette"
            folder, frames = "site_c/sc", 1
        plan.append(PlannedFile(f"{folder}/{kind}_{i + 1:04d}.dcm", kind, frames))
    return plan


def generate_set(work: Path, files: int, cine_frames: int, seed: int) -> GeneratedSet:
    """Write the set under ``work`` (reused when a complete one with these settings is there)."""
    from pydicom.filewriter import dcmwrite

    from dicomscrub import samples

    plan = plan_set(files, cine_frames)
    name = f"input-f{files}-c{cine_frames}-s{seed}"
    root, manifest = work / name, work / f"{name}.json"  # the manifest stays out of the input
    wanted = {"format": SET_FORMAT, "files": [asdict(p) for p in plan], "seed": seed}
    kinds: dict[str, int] = {}
    for p in plan:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    frames = sum(p.frames for p in plan)
    try:
        if json.loads(manifest.read_text(encoding="utf-8")) == wanted:
            return GeneratedSet(root, len(plan), frames, kinds, 0.0, reused=True)
    except (OSError, ValueError):
        pass
    start = time.perf_counter()
    manifest.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    people = samples.fake_patients(min(files, 80), seed)
    probes = ("C5-1", "L12-3", "C9-2")
    for i, p in enumerate(plan):
        who = people[i % len(people)]
        ids = {"seed": seed * 100_003 + i, "uid_seed": f"dicomscrub-bench-{seed}-{i}"}
        if p.kind in ("us", "cine"):
            room = int(re.search(r"us_room(\d+)", p.relpath).group(1))  # type: ignore[union-attr]
            probe = probes[(room - 1) % len(probes)]
            sample = samples.make_ultrasound(who, frames=p.frames, probe=probe, **ids)
        elif p.kind == "ct":
            sample = samples.make_ct(who, rows=512, cols=512, **ids)
        elif p.kind == "cr":
            sample = samples.make_cr_mono1(who, **ids)
        elif p.kind == "sc":
            sample = samples.make_secondary_capture(who, **ids)
        else:
            sample = samples.make_palette(who, **ids)
        path = root / p.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        dcmwrite(path, sample.dataset, enforce_file_format=True)
    manifest.write_text(json.dumps(wanted, indent=1), encoding="utf-8")  # written last
    return GeneratedSet(root, len(plan), frames, kinds, time.perf_counter() - start, False)


# ---------------------------------------------------------------------------- one run


class TreeSampler(threading.Thread):
    """Polls ``/proc`` for the peak RSS (``VmHWM``) of each process under one pid, by role.

    Roles: ``main`` (the tool's own process), ``worker`` (its long-lived Python
    descendants: pool workers), ``tesseract``, or the command name of anything else. A
    Python process seen only once is a child caught between fork and exec (it still shows
    its parent's memory) and is left out. Sampling only attributes the peak; the number
    reported comes from rusage, which misses nothing.
    """

    def __init__(self, wrapper_pid: int) -> None:
        super().__init__(daemon=True)
        self.wrapper_pid = wrapper_pid
        self._seen: dict[int, tuple[str, int, int]] = {}  # pid: (role, peak KiB, samples)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(_SAMPLE_EVERY_S):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def sample(self) -> None:
        for pid, depth in _descendants(_parent_map(), self.wrapper_pid):
            hwm = _hwm_kib(pid)
            if hwm is None:
                continue
            comm = _read(f"/proc/{pid}/comm").strip()
            if depth == 1:
                role = "main"
            elif comm.startswith("python"):
                role = "worker"
            else:
                role = comm or "?"
            _, peak, count = self._seen.get(pid, (role, 0, 0))
            self._seen[pid] = (role, max(peak, hwm), count + 1)

    @property
    def peaks_kib(self) -> dict[str, int]:
        """The largest peak seen per role."""
        peaks: dict[str, int] = {}
        for role, peak, count in self._seen.values():
            if role == "worker" and count < 2:
                continue
            peaks[role] = max(peaks.get(role, 0), peak)
        return peaks


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _parent_map() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            # the command name is in parentheses and may hold spaces; ppid follows the state
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 1:
                parents[int(entry)] = int(fields[1])
    return parents


def _descendants(parents: dict[int, int], root: int) -> list[tuple[int, int]]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [(root, 0)]
    while stack:
        pid, depth = stack.pop()
        for child in children.get(pid, []):
            found.append((child, depth + 1))
            stack.append((child, depth + 1))
    return found


def _hwm_kib(pid: int) -> int | None:
    match = re.search(r"^VmHWM:\s+(\d+) kB", _read(f"/proc/{pid}/status"), re.MULTILINE)
    return int(match.group(1)) if match else None


def tool_command(inputs: Path, out: Path, headers: Path, jobs: int, pixels: bool) -> list[str]:
    """The measured command line."""
    cmd = [sys.executable, "-m", "dicomscrub", "run", "--input", str(inputs)]
    cmd += ["--output", str(out), "--headers", str(headers)]
    cmd += ["--overwrite", "--no-progress", "--jobs", str(jobs)]
    return cmd if pixels else [*cmd, "--no-pixels"]


def measure(label: str, cmd: list[str], run_dir: Path, jobs: int, pixels: bool) -> RunResult:
    """Run ``cmd`` once in a fresh wrapper process and collect its numbers."""
    log_path = run_dir / "tool.log"
    wrapper = subprocess.Popen(
        [sys.executable, "-c", _WRAPPER, str(log_path), *cmd],
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler = TreeSampler(wrapper.pid) if Path("/proc/self/status").exists() else None
    if sampler is not None:
        sampler.start()
    stdout, _ = wrapper.communicate()
    if sampler is not None:
        sampler.stop()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        data = {"rc": wrapper.returncode or -1, "wall_s": 0.0, "maxrss": 0, "cpu_s": 0.0}
    # ru_maxrss is in KiB on Linux, in bytes on macOS
    rss_kib = data["maxrss"] / 1024 if sys.platform == "darwin" else data["maxrss"]
    summary = next((ln for ln in log_text.splitlines() if ln.startswith("dicomscrub: ")), "")
    peaks = sampler.peaks_kib if sampler is not None else {}
    return RunResult(
        label=label,
        jobs=jobs,
        pixels=pixels,
        command=cmd,
        exit_code=int(data["rc"]),
        wall_s=float(data["wall_s"]),
        cpu_s=float(data["cpu_s"]),
        peak_rss_mib=rss_kib / 1024,
        sampled_mib={role: kib / 1024 for role, kib in sorted(peaks.items())},
        summary=summary,
    )


def check(result: RunResult, inputs: GeneratedSet, out: Path, log_path: Path) -> None:
    """Record why a run does not count: a non-zero exit, or missing or extra outputs."""
    result.outputs = sum(1 for p in out.rglob("*") if p.is_file())
    if result.exit_code != 0:
        result.problems.append(f"exit code {result.exit_code} (log: {log_path})")
    if result.outputs != inputs.files:
        result.problems.append(f"{result.outputs} output files for {inputs.files} inputs")
    match = re.search(r"(\d+) done", result.summary)
    if not match or int(match.group(1)) != inputs.files:
        result.problems.append(f"summary does not say {inputs.files} done: {result.summary!r}")


# ---------------------------------------------------------------------------- reporting


def markdown_table(results: Sequence[RunResult], inputs: GeneratedSet) -> str:
    head = (
        "| run | jobs | files | frames | seconds | files/s | frames/s | CPU s "
        "| peak RSS MiB | largest process | sampled peaks MiB | exit |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        sampled = ", ".join(f"{role} {mib:.0f}" for role, mib in r.sampled_mib.items()) or "-"
        files_s = f"{inputs.files / r.wall_s:.2f}" if r.wall_s > 0 else "-"
        frames_s = f"{inputs.frames / r.wall_s:.2f}" if r.wall_s > 0 else "-"
        lines.append(
            f"| {r.label} | {r.jobs} | {inputs.files} | {inputs.frames} | {r.wall_s:.1f} "
            f"| {files_s} | {frames_s} | {r.cpu_s:.1f} "
            f"| {r.peak_rss_mib:.0f} | {r.largest} | {sampled} | {r.exit_code} |"
        )
    return "\n".join(lines)


def summaries(results: Sequence[RunResult]) -> str:
    return "\n".join(f"- {r.label}: `{r.summary or '(no summary line)'}`" for r in results)


def machine_info() -> dict[str, str]:
    """What the numbers depend on: cores, CPU, memory, versions, commit."""
    import numpy
    import pydicom

    import dicomscrub

    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    try:
        usable = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        usable = str(os.cpu_count())
    return {
        "nproc": usable,
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown",
        "memory": f"{int(memory.group(1)) / 1024**2:.1f} GiB" if memory else "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "dicomscrub": dicomscrub.__version__,
        "pydicom": pydicom.__version__,
        "numpy": numpy.__version__,
        "tesseract": _tesseract_version(),
        "commit": _commit(),
    }


def _tesseract_version() -> str:
    try:
        done = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "not found"
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else "unknown"


def _commit() -> str:
    """The checked-out commit, read only (``+ local changes`` when the tree is dirty)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        head = git("rev-parse", "--short", "HEAD")
        # --no-optional-locks: status must not refresh (write) the index
        dirty = git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + local changes' if dirty else ''}"


def record(
    results: Sequence[RunResult],
    inputs: GeneratedSet,
    argv: Sequence[str],
    seconds: float,
    load: str,
) -> None:
    """Append a dated section to ``bench/RESULTS.md``."""
    info = machine_info()
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(inputs.kinds.items()))
    example = results[0].command if results else []
    section = [
        f"## {now}, {info['nproc']} cores",
        "",
        f"- machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, {info['os']}",
        f"- load average (1, 5, 15 min) before the runs: {load}",
        f"- versions: Python {info['python']}, dicomscrub {info['dicomscrub']} "
        f"(commit {info['commit']}), pydicom {info['pydicom']}, numpy {info['numpy']}, "
        f"{info['tesseract']}",
        f"- command: `{shlex.join([Path(sys.executable).name, *argv])}` "
        f"(whole benchmark {seconds:.0f} s)",
        f"- set: {inputs.files} files, {inputs.frames} frames ({kinds})",
        f"- first run: `{shlex.join(_short(example))}` (the others differ in `--jobs`; "
        "the header-only run adds `--no-pixels`)",
        "",
        markdown_table(results, inputs),
        "",
        "Summary lines:",
        "",
        summaries(results),
        "",
    ]
    if not RESULTS.exists():
        RESULTS.write_text(_RESULTS_HEAD, encoding="utf-8")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(section) + "\n")


def _load_average() -> str:
    """Other work on the machine skews the numbers; the record says how busy it was."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _short(cmd: Sequence[str]) -> list[str]:
    """The command with the interpreter and work paths made relative, for the record."""
    out = []
    for part in cmd:
        path = Path(part)
        if part == sys.executable:
            out.append("python")
        elif path.is_absolute() and path.is_relative_to(REPO_ROOT):
            out.append(path.relative_to(REPO_ROOT).as_posix())
        else:
            out.append(part)
    return out


# ---------------------------------------------------------------------------- main


def parse_jobs(text: str) -> list[int]:
    try:
        jobs = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from exc
    if not jobs or any(j < 1 for j in jobs):
        raise argparse.ArgumentTypeError(f"jobs must be 1 or more: {text}")
    return list(dict.fromkeys(jobs))


def build_parser() -> argparse.ArgumentParser:
    cores = os.cpu_count() or 1  # shown in --help; main() applies the default
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, help="files in the set (default 40; --quick 5)")
    parser.add_argument(
        "--cine-frames", type=int, help="frames per ultrasound cine (default 30; --quick 4)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default 0)")
    parser.add_argument(
        "--jobs-list",
        type=parse_jobs,
        help=f"--jobs values to measure, comma-separated (default 1,{cores}: 1 and all "
        "cores; --quick 1)",
    )
    parser.add_argument(
        "--no-header-run",
        action="store_true",
        help="skip the header-only run (--no-pixels at the largest --jobs value)",
    )
    parser.add_argument(
        "--work", type=Path, default=DEFAULT_WORK, help="work folder (default bench/work)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 5 small-set files, 4-frame cine, jobs 1"
    )
    parser.add_argument("--record", action="store_true", help="append the results to RESULTS.md")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    cores = os.cpu_count() or 1
    if args.files is None:
        args.files = 5 if args.quick else 40
    if args.cine_frames is None:
        args.cine_frames = 4 if args.quick else 30
    if args.jobs_list is None:
        args.jobs_list = [1] if args.quick else parse_jobs(f"1,{cores}")
    if args.files < 1 or args.cine_frames < 2:
        print("run_bench: --files must be 1 or more, --cine-frames 2 or more", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load = _load_average()
    work: Path = args.work.resolve()
    inputs = generate_set(work, args.files, args.cine_frames, args.seed)
    how = "reused" if inputs.reused else f"generated in {inputs.seconds:.1f} s"
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(inputs.kinds.items()))
    print(f"set: {inputs.files} files, {inputs.frames} frames ({kinds}), {how}: {inputs.root}")

    configs = [(f"pixels + headers, jobs {j}", j, True) for j in args.jobs_list]
    if not args.no_header_run:
        top = max(args.jobs_list)
        configs.append((f"header only (--no-pixels), jobs {top}", top, False))
    results = []
    for label, jobs, pixels in configs:
        run_dir = work / "runs" / f"jobs{jobs}{'' if pixels else '-no-pixels'}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        out, headers = run_dir / "output", run_dir / "headers"
        cmd = tool_command(inputs.root, out, headers, jobs, pixels)
        print(f"running: {label} ...", flush=True)
        result = measure(label, cmd, run_dir, jobs, pixels)
        check(result, inputs, out, run_dir / "tool.log")
        print(f"  {result.wall_s:.1f} s, peak RSS {result.peak_rss_mib:.0f} MiB: {result.summary}")
        results.append(result)

    print()
    print(markdown_table(results, inputs))
    print()
    print(summaries(results))
    failed = [r for r in results if r.problems]
    for r in failed:
        for problem in r.problems:
            print(f"run_bench: {r.label}: {problem}", file=sys.stderr)
    if failed:
        print("run_bench: some runs did not count; nothing recorded", file=sys.stderr)
        return 1
    if args.record:
        elapsed = time.perf_counter() - started
        record(results, inputs, ["bench/run_bench.py", *argv], elapsed, load)
        print(f"\nrecorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
