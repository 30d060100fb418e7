"""One batch run: discover, detect (pass 1), group, redact (pass 2), summarise."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from dicomscrub.audit.crosswalk import Crosswalk
from dicomscrub.audit.resume import entry_for, fingerprint, load_index, save_index, still_valid
from dicomscrub.audit.sidecar import sidecar_path, write_sidecar
from dicomscrub.batch.discover import discover
from dicomscrub.batch.executors import CRASH_REASON, run_tasks
from dicomscrub.batch.paths import generic_flags, prefixes_of, release_relpath
from dicomscrub.batch.worker import (
    DetectTask,
    RedactTask,
    detect_file,
    leaf_key_of,
    quiet_third_party,
    redact_file,
)
from dicomscrub.config import DeidConfig
from dicomscrub.errors import DicomScrubError, OutputError
from dicomscrub.header.keys import load_or_create_key
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.io.write import prepare_folders
from dicomscrub.models import (
    BBox,
    BoxOrigin,
    DetectResult,
    FileOutcome,
    RunSummary,
    Status,
)
from dicomscrub.pixels.analyzer import check_analyzer
from dicomscrub.pixels.boxes import merge_boxes
from dicomscrub.pixels.ocr.base import get_engine
from dicomscrub.pixels.templates import load_templates
from dicomscrub.report.previews import preview_path

log = logging.getLogger(__name__)

#: Where single-pass runs write outputs before they know their release names.
STAGING = ".dicomscrub-staging"

#: A progress callback: (pass name, finished, total).
Progress = Callable[[str, int, int], None]


def run_batch(
    config: DeidConfig, progress: Progress | None = None
) -> tuple[RunSummary, list[FileOutcome]]:
    """De-identify everything under ``config.output.input``; return summary and outcomes."""
    config.validate()
    quiet_third_party()
    out = config.output
    prepare_folders(out.output, out.headers)
    key = load_or_create_key(config.key_path)  # create once, before workers race for it
    digest = fingerprint(config, key)
    index = load_index(out.headers)
    pseudo = Pseudonymizer(
        key,
        config.header.patient_prefix,
        (config.header.date_shift_min_days, config.header.date_shift_max_days),
    )
    if config.pixels.enabled:
        get_engine(config.pixels)  # fail the whole run early if the engine is missing
        check_analyzer(config.pixels)  # ... or the analyzer's package or model
        if config.pixels.templates is not None:
            load_templates(config.pixels.templates)  # and if the templates file is wrong
    # Outputs a killed header-only run left staged are not released: remove them.
    shutil.rmtree(out.output / STAGING, ignore_errors=True)
    found = discover(out.input, config.batch.recursive)
    log.info(
        "found %d DICOM files (%d not DICOM, %d DICOMDIR skipped)",
        len(found.files),
        found.not_dicom,
        found.dicomdirs,
    )

    outcomes: list[FileOutcome] = []
    todo: list[DetectTask] = []
    previous: list[dict[str, object]] = []
    flagged: set[tuple[str, ...]] = set()
    for path, relpath in found.files:
        done = None
        entry = index.get(relpath)
        if not config.batch.overwrite and still_valid(entry, digest, path):
            done = _finished(out.headers, relpath, out.output)
        if done is not None and entry is not None:
            previous.append(done)
            flagged.update(prefixes_of(relpath, entry.get("flagged", ())))
            kept = preview_path(out.headers, relpath)
            outcomes.append(
                FileOutcome(
                    relpath,
                    Status.SKIPPED,
                    reason="already done (use --overwrite)",
                    output=str(done.get("output", "")),
                    num_frames=int(str(done.get("num_frames", 0))),
                    boxes=_boxes_of(done),
                    preview=str(kept) if kept.is_file() else "",
                )
            )
        else:
            todo.append(DetectTask(path, relpath))

    if config.pixels.enabled:
        tasks, flags_of = _two_passes(todo, previous, config, pseudo, flagged, outcomes, progress)
    else:
        tasks, flags_of = _single_pass(todo, config, pseudo, flagged, outcomes, progress)
    outcomes.sort(key=lambda o: o.relpath)
    _sweep_partial_outputs(out.output, tasks)
    paths = {task.relpath: task.path for task in todo}
    save_index(
        out.headers,
        index,
        finished={
            o.relpath: entry_for(digest, paths[o.relpath], flags_of[o.relpath])
            for o in outcomes
            if o.status is Status.DONE
        },
        failed=(o.relpath for o in outcomes if o.status is Status.FAILED),
    )
    failures = tuple(
        (o.release_relpath or o.relpath, o.reason) for o in outcomes if o.status is Status.FAILED
    )
    summary = RunSummary(
        discovered=len(found.files),
        done=sum(o.status is Status.DONE for o in outcomes),
        skipped=sum(o.status is Status.SKIPPED for o in outcomes),
        failed=len(failures),
        not_dicom=found.not_dicom + found.dicomdirs,
        frames=sum(o.num_frames for o in outcomes if o.status is Status.DONE),
        boxes=sum(len(o.boxes) for o in outcomes if o.status is Status.DONE),
        failures=failures,
        ignored=found.skipped,
    )
    return summary, outcomes


def _two_passes(
    todo: list[DetectTask],
    previous: list[dict[str, object]],
    config: DeidConfig,
    pseudo: Pseudonymizer,
    flagged: set[tuple[str, ...]],
    outcomes: list[FileOutcome],
    progress: Progress | None,
) -> tuple[list[RedactTask], dict[str, tuple[int, ...]]]:
    """Detect boxes on every file, pool them per group, then redact and write."""
    out = config.output
    detected = _collect(
        run_tasks(detect_file, todo, config, _detect_crashed, cost=_file_cost),
        "detect",
        len(todo),
        progress,
    )
    by_rel = {d.relpath: d for d in detected}
    groups = _group_boxes(detected, previous, config)
    for result in detected:
        flagged.update(prefixes_of(result.relpath, result.flagged))

    tasks: list[RedactTask] = []
    built: dict[tuple[str, str], _Group] = {}
    for task in todo:
        result = by_rel[task.relpath]
        if result.error is not None:
            shown = release_relpath(task.relpath, flagged | generic_flags(task.relpath), pseudo)
            if result.error == CRASH_REASON:  # its own header was never read: hide the name
                shown = str(PurePosixPath(shown).parent / "<file name withheld>")
            _remove_earlier_output(out.headers, task.relpath, out.output)
            outcomes.append(
                FileOutcome(task.relpath, Status.FAILED, reason=result.error, release_relpath=shown)
            )
            continue
        group = (result.leaf_key, result.signature)
        union = config.pixels.leaf_union and result.has_pixels
        if union:
            if group not in built:
                built[group] = _Group.of(groups.get(group, []), config)
            boxes, origins = built[group].boxes, built[group].seen_from(task.relpath)
        else:
            boxes, origins = result.boxes, result.origins
        tasks.append(
            RedactTask(
                path=task.path,
                relpath=task.relpath,
                out_relpath=release_relpath(task.relpath, flagged, pseudo),
                boxes=tuple(boxes),
                origins=origins,
                leaf_union=union,
                leaf_key=result.leaf_key,
                signature=result.signature,
            )
        )
    shown_as = {t.relpath: t.out_relpath for t in tasks}
    with Crosswalk(out.headers) as crosswalk:
        for outcome in _collect(
            run_tasks(redact_file, tasks, config, _redact_crashed(out.output), cost=_file_cost),
            "redact",
            len(tasks),
            progress,
        ):
            if outcome.crosswalk is not None:
                crosswalk.add(outcome.crosswalk)
            outcomes.append(
                replace(outcome, release_relpath=shown_as[outcome.relpath], crosswalk=None)
            )
    return tasks, {d.relpath: d.flagged for d in detected}


def _single_pass(
    todo: list[DetectTask],
    config: DeidConfig,
    pseudo: Pseudonymizer,
    flagged: set[tuple[str, ...]],
    outcomes: list[FileOutcome],
    progress: Progress | None,
) -> tuple[list[RedactTask], dict[str, tuple[int, ...]]]:
    """Header-only runs: every file is read once and written to a staging folder in the
    release folder (under keyed tokens, so a name gives no input path away), its sidecar
    naming the release path its own path flags give; once every file's flags are known,
    each output is moved to its release path, and the few sidecars whose folders another
    file flagged are written again."""
    out = config.output
    staging = out.output / STAGING
    tasks = [
        RedactTask(
            path=task.path,
            relpath=task.relpath,
            out_relpath=f"{STAGING}/{pseudo.token('staging', task.relpath, 16)}.dcm",
            boxes=(),
            leaf_union=False,
            leaf_key=leaf_key_of(task.relpath),
            signature="",
            staged=True,
        )
        for task in todo
    ]
    try:  # whatever stops the run, nothing stays staged in the release folder
        done = _collect(
            run_tasks(
                redact_file, tasks, config, _redact_crashed(out.output), short=True, cost=_file_cost
            ),
            "redact",
            len(tasks),
            progress,
        )
        for outcome in done:
            flagged.update(prefixes_of(outcome.relpath, outcome.flagged))
        sources = {t.relpath: t.path for t in tasks}
        with Crosswalk(out.headers) as crosswalk:
            for outcome in done:
                outcomes.append(_release(outcome, sources[outcome.relpath], config, pseudo,
                                         flagged, crosswalk))  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tasks, {o.relpath: o.flagged for o in done}


def _release(
    outcome: FileOutcome,
    source: Path,
    config: DeidConfig,
    pseudo: Pseudonymizer,
    flagged: set[tuple[str, ...]],
    crosswalk: Crosswalk,
) -> FileOutcome:
    """Move one staged output to its release path and write its sidecar."""
    out = config.output
    relpath = outcome.relpath
    if outcome.status is not Status.DONE or outcome.sidecar is None:
        shown = release_relpath(relpath, flagged | generic_flags(relpath), pseudo)
        if outcome.reason == CRASH_REASON and not outcome.flagged:
            shown = str(PurePosixPath(shown).parent / "<file name withheld>")
        _remove_earlier_output(out.headers, relpath, out.output)
        return replace(outcome, release_relpath=shown, sidecar=None, crosswalk=None)
    shown = release_relpath(relpath, flagged, pseudo)
    staged, final = Path(outcome.output), (out.output / shown).resolve()
    source = source.resolve()
    try:
        if final == source:
            raise OutputError("the output path is the input file itself")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        if shown != outcome.sidecar.predicted:  # another file flagged one of its folders
            write_sidecar(
                out.headers,
                relpath,
                source=source,
                output=final,
                num_frames=outcome.num_frames,
                boxes=(),
                leaf_union=False,
                leaf_key=leaf_key_of(relpath),
                signature=outcome.sidecar.signature,
                phi=outcome.sidecar.phi,
            )
    except (OSError, DicomScrubError) as exc:
        _unlink_quietly(staged)
        _unlink_quietly(sidecar_path(out.headers, relpath))
        if final != source:
            _unlink_quietly(final)
        reason = str(exc) if isinstance(exc, DicomScrubError) else "could not move the output"
        return FileOutcome(relpath, Status.FAILED, reason=reason, release_relpath=shown)
    if outcome.crosswalk is not None:
        crosswalk.add(outcome.crosswalk)
    return replace(outcome, output=str(final), release_relpath=shown, crosswalk=None, sidecar=None)


def _group_boxes(
    detected: Iterable[DetectResult], previous: Iterable[dict[str, object]], config: DeidConfig
) -> dict[tuple[str, str], list[tuple[BBox, BoxOrigin, str]]]:
    """Every box found per (leaf folder, device signature), earlier runs' files included,
    with its origin and the file it was found on."""
    pooled: dict[tuple[str, str], list[tuple[BBox, BoxOrigin, str]]] = defaultdict(list)
    for result in detected:
        if result.error is None and result.has_pixels:
            pooled[(result.leaf_key, result.signature)].extend(_found_on(result))
    for data in previous:
        key = (str(data.get("leaf_key", "")), str(data.get("transducer_signature", "")))
        if key in pooled:
            pooled[key].extend(_previous_found(data))
    return pooled


def _found_on(result: DetectResult) -> list[tuple[BBox, BoxOrigin, str]]:
    origins = result.origins or tuple(() for _ in result.boxes)
    return [
        (box, origin, result.relpath)
        for box, box_origins in zip(result.boxes, origins, strict=True)
        for origin in box_origins or (_UNKNOWN,)
    ]


def _previous_found(sidecar: dict[str, object]) -> list[tuple[BBox, BoxOrigin, str]]:
    """The boxes of an earlier run's sidecar, with the origins it recorded."""
    raw = sidecar.get("boxes")
    out: list[tuple[BBox, BoxOrigin, str]] = []
    for entry in raw if isinstance(raw, list) else []:
        box = BBox.from_json(entry)
        listed = entry.get("origins") if isinstance(entry, dict) else None
        origins = [BoxOrigin.from_json(o) for o in listed or [] if isinstance(o, dict)]
        out.extend((box, replace(o, own=False), "") for o in origins or [_UNKNOWN])
    return out


#: The origin of a box whose finder is not known (a sidecar from an older version).
_UNKNOWN = BoxOrigin("unknown", "", "", 0.0, -1, own=False)


@dataclass(frozen=True, slots=True)
class _Group:
    """One group's merged boxes and, per box and origin kind, the best origin and the
    files it was found on."""

    boxes: tuple[BBox, ...]
    origins: tuple[tuple[tuple[BoxOrigin, frozenset[str]], ...], ...]

    @classmethod
    def of(cls, found: list[tuple[BBox, BoxOrigin, str]], config: DeidConfig) -> _Group:
        boxes = tuple(merge_boxes((b for b, _, _ in found), config.pixels.merge_iou))
        per_box = []
        for box in boxes:
            best: dict[tuple[str, str, str], tuple[BoxOrigin, set[str]]] = {}
            for other, origin, relpath in found:
                if not box.intersection(other):
                    continue
                key = (origin.source, origin.area, origin.rule)
                kept, files = best.get(key, (origin, set()))
                if origin.confidence > kept.confidence or origin.frame < kept.frame:
                    kept = replace(
                        kept,
                        confidence=max(kept.confidence, origin.confidence),
                        frame=min(kept.frame, origin.frame),
                    )
                files.add(relpath)
                best[key] = (kept, files)
            per_box.append(
                tuple((o, frozenset(f)) for o, f in sorted(best.values(), key=lambda v: v[0]))
            )
        return cls(boxes, tuple(per_box))

    def seen_from(self, relpath: str) -> tuple[tuple[BoxOrigin, ...], ...]:
        """The origins as one file of the group sees them: found on it, or on another."""
        return tuple(
            tuple(replace(o, own=relpath in files) for o, files in box) for box in self.origins
        )


#: What one file costs a worker besides its size, as bytes of size: reading, walking and
#: writing a header takes about as long as copying a few MiB of pixel data.
_FILE_OVERHEAD = 4 * 1024 * 1024


def _file_cost(task: DetectTask | RedactTask) -> int:
    """A file's share of the pool's work, for balancing: its size plus a fixed part."""
    try:
        return task.path.stat().st_size + _FILE_OVERHEAD
    except OSError:
        return _FILE_OVERHEAD


def _detect_crashed(task: DetectTask, reason: str) -> DetectResult:
    return DetectResult(task.relpath, leaf_key=leaf_key_of(task.relpath), error=reason)


def _redact_crashed(release: Path) -> Callable[[RedactTask, str], FileOutcome]:
    """A failure for a task whose process died, after removing its output if any."""

    def crashed(task: RedactTask, reason: str) -> FileOutcome:
        _unlink_quietly(release / task.out_relpath)
        return FileOutcome(task.relpath, Status.FAILED, reason=reason)

    return crashed


def _sweep_partial_outputs(release: Path, tasks: Iterable[RedactTask]) -> None:
    """Remove temporary files that killed workers left in the release folder."""
    names: dict[Path, set[str]] = defaultdict(set)
    for task in tasks:
        out_path = release / task.out_relpath
        names[out_path.parent].add(out_path.name)
    for folder, wanted in names.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name  # ".<output name>.<random>.part", see io.write.atomic_write
            is_part = name.startswith(".") and name.endswith(".part")
            if is_part and name[1:].rsplit(".", 2)[0] in wanted:
                _unlink_quietly(Path(entry.path))


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove a stale output file")


def _boxes_of(sidecar: dict[str, object]) -> tuple[BBox, ...]:
    raw = sidecar.get("boxes")
    return tuple(BBox.from_json(b) for b in raw) if isinstance(raw, list) else ()


def _remove_earlier_output(headers: Path, relpath: str, release: Path) -> None:
    """A file that now fails must not stay released from an earlier run."""
    earlier = _finished(headers, relpath, release)
    if earlier is not None:
        _unlink_quietly(Path(str(earlier["output"])))


def _finished(headers: Path, relpath: str, release: Path) -> dict[str, object] | None:
    """The sidecar of an earlier, complete run of this file whose output is still in
    this run's release folder."""
    try:
        data = json.loads(sidecar_path(headers, relpath).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    output = Path(str(data.get("output", "")))
    if not output.is_file() or not output.resolve().is_relative_to(release.resolve()):
        return None
    return data


def _collect(
    results: Iterable[DetectResult] | Iterable[FileOutcome],
    name: str,
    total: int,
    progress: Progress | None,
) -> list:  # type: ignore[type-arg]
    out = []
    for done, item in enumerate(results, 1):
        out.append(item)
        if progress is not None:
            progress(name, done, total)
    return out
