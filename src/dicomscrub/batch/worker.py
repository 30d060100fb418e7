"""The per-file steps of both passes: pure functions of (task, config) that never raise.

Each runs unchanged in-process, on a process pool or on a Dask worker. The one broad
``except`` of the tool lives here: any failure becomes a per-file outcome with a reason
that names no PHI, and nothing is written to the release folder for that file.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomscrub.audit.sidecar import write_sidecar
from dicomscrub.batch.paths import flagged_components, prefixes_of, release_relpath
from dicomscrub.config import DeidConfig, HeaderConfig
from dicomscrub.errors import DicomScrubError, InputError, OutputError, RedactionError
from dicomscrub.header.anonymize import HeaderAnonymizer, HeaderReport, patient_identity
from dicomscrub.header.dictionary import text_value
from dicomscrub.header.keys import load_key
from dicomscrub.header.phi import header_terms, sidecar_phi
from dicomscrub.header.profile import HeaderProfile
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.io.frames import (
    FrameEditor,
    edit_frames,
    iter_frames,
    number_of_frames,
    read_frame,
    transfer_syntax,
)
from dicomscrub.io.pixelstream import (
    PixelPlan,
    append_pixels,
    check_copied_length,
    copy_pixels,
    needs_rewrite,
    plan_pixels,
    prepare_header,
)
from dicomscrub.io.read import read_full, read_header
from dicomscrub.io.write import (
    atomic_write,
    default_file_mode,
    save_dataset,
    to_little_endian,
    write_dataset,
    write_header,
)
from dicomscrub.models import (
    BBox,
    BoxOrigin,
    CrosswalkRows,
    DetectResult,
    FileOutcome,
    StagedSidecar,
    Status,
    Thumbnail,
)
from dicomscrub.pixels.analyzer import line_analyzer
from dicomscrub.pixels.ocr.base import get_engine
from dicomscrub.pixels.phi_policy import PhiMatcher
from dicomscrub.pixels.redact import (
    Fill,
    fill_for,
    random_text_masks,
    redact_frame,
    stamp_text,
)
from dicomscrub.pixels.render import thumbnail_rgb, to_display
from dicomscrub.pixels.templates import TEMPLATE_ORIGIN, load_templates
from dicomscrub.report.previews import save_previews
from dicomscrub.terms import identifying_terms

if TYPE_CHECKING:
    from dicomscrub.pixels.detect import Detection

log = logging.getLogger(__name__)

PIXEL_DATA_TAG = 0x7FE00010

_SIGNATURE_KEYWORDS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "TransducerData",
    "TransducerType",
)
_SIGNATURE_TAGS = tuple(int(tag_for_keyword(keyword) or 0) for keyword in _SIGNATURE_KEYWORDS)


@dataclass(frozen=True, slots=True)
class DetectTask:
    """Pass 1 input for one file."""

    path: Path
    relpath: str


@dataclass(frozen=True, slots=True)
class RedactTask:
    """Pass 2 input for one file: the group's boxes and where the output goes."""

    path: Path
    relpath: str
    out_relpath: str
    boxes: tuple[BBox, ...]
    leaf_union: bool
    leaf_key: str
    signature: str
    #: Per box, why it is there (the sidecar's box provenance).
    origins: tuple[tuple[BoxOrigin, ...], ...] = ()
    #: A single pass (header-only runs): ``out_relpath`` is a staging name, the worker
    #: also finds the file's PHI in its path, and the main process moves the output and
    #: writes the sidecar once every file's path flags are known.
    staged: bool = False


def leaf_key_of(relpath: str) -> str:
    """The leaf folder of a file, relative to the input root (``.`` for the root)."""
    return PurePosixPath(relpath).parent.as_posix()


def transducer_signature(ds: Dataset) -> str:
    """What identifies one screen layout: device, probe, matrix size and colour model."""
    parts = []
    for tag in _SIGNATURE_TAGS:
        try:
            value = text_value(ds, tag)
        except Exception:
            value = ""
        parts.append(value)
    parts.append(f"{ds.get('Rows', '?')}x{ds.get('Columns', '?')}")
    parts.append(str(ds.get("PhotometricInterpretation", "")).strip())
    return "|".join(parts)


def matcher_for(ds: Dataset) -> PhiMatcher:
    """The PHI matcher built from this file's own header at every depth."""
    return PhiMatcher.from_header(*header_terms(ds))


@functools.lru_cache(maxsize=4)
def _anonymizer(header: HeaderConfig, key_path: Path) -> HeaderAnonymizer:
    """One anonymiser per process and settings, so decisions and UIDs are cached."""
    pseudo = Pseudonymizer(
        load_key(key_path),
        header.patient_prefix,
        (header.date_shift_min_days, header.date_shift_max_days),
    )
    return HeaderAnonymizer(HeaderProfile.from_config(header), pseudo)


def _crosswalk_rows(phi: dict[str, str], report: HeaderReport, identity: str) -> CrosswalkRows:
    study = phi.get("StudyInstanceUID", "")
    accession = phi.get("AccessionNumber", "")
    studies: tuple[tuple[str, str, str, str], ...] = ()
    if study:
        new_accession = report.identifiers.get(("AccessionNumber", accession), "")
        studies = ((study, report.uids.get(study, study), accession, new_accession),)
    return CrosswalkRows(
        patient_identity=identity,
        patient_id=phi.get("PatientID", ""),
        patient_name=phi.get("PatientName", ""),
        pseudonym=report.pseudonym,
        date_offset_days=report.date_offset_days,
        studies=studies,
        uids=tuple(sorted(report.uids.items())),
        identifiers=tuple(sorted((k, v, t) for (k, v), t in report.identifiers.items())),
    )


def quiet_third_party() -> None:
    """Keep library warnings (which may quote element values) out of the output."""
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?$")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)


def detect_phi_boxes(*args: Any, **kwargs: Any) -> Detection:
    """:func:`dicomscrub.pixels.detect.detect_phi_boxes`, imported on first use: the
    text search loads OpenCV (about 25 MiB and 30 ms per process), which a header-only
    run never needs."""
    from dicomscrub.pixels.detect import detect_phi_boxes as detect

    return detect(*args, **kwargs)


def detect_file(task: DetectTask, config: DeidConfig) -> DetectResult:
    """Pass 1: read the header, find PHI boxes on sampled frames; never raises."""
    quiet_third_party()
    leaf_key = leaf_key_of(task.relpath)
    flagged: tuple[int, ...] = ()
    try:
        ds = read_header(task.path)
        matcher = matcher_for(ds)
        flagged = flagged_components(task.relpath, matcher)  # kept even if detection fails
        signature = transducer_signature(ds)
        frames = number_of_frames(ds)
        if frames == 0 or not config.pixels.enabled:
            return DetectResult(
                task.relpath, (), leaf_key, signature, frames, frames > 0, flagged=flagged
            )
        _check_geometry(ds)
        template = _template_boxes(config, signature)
        if template is not None:
            return DetectResult(
                task.relpath,
                template,
                leaf_key,
                signature,
                frames,
                True,
                flagged=flagged,
                origins=tuple((TEMPLATE_ORIGIN,) for _ in template),
            )
        engine = get_engine(config.pixels)
        # Text in the middle of the frame is judged under the phi policy: read, not
        # only found, whatever --redact says for the margins.
        reader = get_engine(dataclasses.replace(config.pixels, redact="phi"))
        analyzer = line_analyzer(config.pixels, matcher)
        detection = detect_phi_boxes(
            lambda i: read_frame(task.path, ds, i),
            ds,
            frames,
            config.pixels,
            engine,
            analyzer,
            other_frames=lambda indices: iter_frames(task.path, ds, indices),
            reader=reader,
        )
        return DetectResult(
            task.relpath,
            detection.boxes,
            leaf_key,
            signature,
            frames,
            True,
            flagged=flagged,
            origins=detection.origins,
        )
    except Exception as exc:
        return DetectResult(
            task.relpath, (), leaf_key, "", 0, False, flagged=flagged, error=_reason(exc)
        )


def _template_boxes(config: DeidConfig, signature: str) -> tuple[BBox, ...] | None:
    """The device template's boxes for this signature, if a templates file is in use."""
    if config.pixels.templates is None:
        return None
    return load_templates(config.pixels.templates).for_signature(signature)


def redact_file(task: RedactTask, config: DeidConfig) -> FileOutcome:
    """Pass 2: redact every frame, de-identify the header, write output and sidecar.

    On any failure nothing is left at the output path, not even an earlier run's file:
    the file is being redone, so an older output no longer matches its sidecar.
    """
    quiet_third_party()
    out_path = config.output.output / task.out_relpath
    flagged: list[int] = []  # known as soon as the header is read, kept if it fails later
    try:
        try:
            return _redact(task, config, out_path, flagged)
        except SecondLookFound as found:
            # Text the first pass missed and the second look read: redact it too, from the
            # input again, and look once more; what is still readable then fails the file.
            log.info("the second look found %d more line(s); redacting again", len(found.boxes))
            again = dataclasses.replace(
                task,
                boxes=(*task.boxes, *found.boxes),
                origins=(*_origins_per_box(task), *found.origins),
            )
            return _redact(again, config, out_path, flagged, last_look=True)
    except Exception as exc:
        log.debug("file failed: %s", type(exc).__name__)
        try:
            if out_path.resolve() != task.path.resolve():
                out_path.unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove the output of a failed file")
        return FileOutcome(task.relpath, Status.FAILED, reason=_reason(exc), flagged=tuple(flagged))


class SecondLookFound(RedactionError):
    """The second look read PHI on the redacted output: the boxes of those lines."""

    def __init__(self, boxes: tuple[BBox, ...], origins: tuple[tuple[BoxOrigin, ...], ...]):
        super().__init__(
            f"second look: {len(boxes)} line(s) of PHI text still readable after redaction; "
            "not released"
        )
        self.boxes, self.origins = boxes, origins


def _origins_per_box(task: RedactTask) -> tuple[tuple[BoxOrigin, ...], ...]:
    """The task's box origins, one (possibly empty) tuple per box."""
    if len(task.origins) == len(task.boxes):
        return task.origins
    return tuple(() for _ in task.boxes)


def _redact(
    task: RedactTask,
    config: DeidConfig,
    out_path: Path,
    flagged: list[int],
    *,
    last_look: bool = False,
) -> FileOutcome:
    # (A staging path is inside the release folder, which never holds an input.)
    if not task.staged and out_path.resolve() == task.path.resolve():
        raise OutputError("the output path is the input file itself")
    ds = read_header(task.path)  # pixel data stays on disk
    terms = None
    if task.staged:  # no detect pass ran: find the file's PHI in its path here
        removed = _anonymizer(config.header, config.key_path).removes_private
        terms = identifying_terms(*header_terms(ds, removed))
        flagged.extend(flagged_components(task.relpath, PhiMatcher(terms)))
    syntax = transfer_syntax(ds)
    if syntax.is_deflated:
        ds = read_full(task.path)  # a deflated stream cannot be read at an offset
        syntax = transfer_syntax(ds)
    phi = sidecar_phi(ds)
    identity = patient_identity(ds)
    frames = number_of_frames(ds)
    if frames and "PixelData" not in ds:
        raise RedactionError("Float Pixel Data is not supported")
    big_endian = syntax == ExplicitVRBigEndian
    if big_endian and frames and int(ds.get("BitsAllocated", 0) or 0) == 1:
        # Packed 1-bit data (segmentations) cannot be streamed: convert it to little
        # endian in memory first, still packed, so BitsAllocated stays 1.
        ds = read_full(task.path)
        edit_frames(ds, lambda *_: None)
        syntax = transfer_syntax(ds)
    pixels = frames > 0 and config.pixels.enabled
    boxes: list[BBox] = []
    if pixels:
        _check_geometry(ds)
        boxes = [b.clipped(int(ds.Rows), int(ds.Columns)) for b in task.boxes]
        boxes = [b for b in boxes if b.area]
    # The second look needs the original header's values: take them before it changes
    # (the anonymiser then uses the same terms rather than collecting them again).
    looker = None
    if boxes and config.pixels.second_look:
        if terms is None:
            terms = identifying_terms(*header_terms(ds))
        looker = PhiMatcher(terms)
    editor = _editor(ds, boxes, task.relpath, config) if boxes else None
    plan = None
    if frames and (editor is not None or big_endian or needs_rewrite(ds, task.path)):
        plan = plan_pixels(ds)
    previews = (
        _Previews(ds, config.output.thumbnail_px) if pixels and config.output.pdf_report else None
    )

    copy_raw = None
    if plan is None and frames and previews is None and not syntax.is_deflated:
        stored = ds.get_item(PIXEL_DATA_TAG, keep_deferred=True)
        if isinstance(stored, RawDataElement) and stored.value is None:
            copy_raw = stored  # still on disk: copy the bytes as they are
            if pixels:  # frames beyond NumberOfFrames would be released unsearched
                check_copied_length(ds, stored)

    source_header = ds
    if plan is not None:
        # The pixel writers read geometry and the stored pixel data from the original
        # header; the whole header is copied only for the in-memory path.
        source_header = copy.deepcopy(ds) if plan.mode == "memory" else _pixel_source(ds)
    # Only a file whose pixels were actually redacted is declared free of burned-in text.
    signature = transducer_signature(ds) if task.staged else task.signature
    anonymizer = _anonymizer(config.header, config.key_path)
    report = anonymizer.anonymize(ds, pixels_cleaned=bool(boxes), terms=terms)
    crosswalk = _crosswalk_rows(phi, report, identity)
    if big_endian:
        to_little_endian(ds)
    if copy_raw is not None:
        _write_copied(out_path, task.path, ds, copy_raw, staged=task.staged)
    elif plan is not None and plan.mode != "memory":
        # Native and big endian data have no second way to be read: no fallback copy.
        retry = plan.mode != "native" and not big_endian
        fallback = copy.deepcopy(ds) if retry else None
        try:
            _write_streamed(out_path, task.path, ds, source_header, plan, editor, previews)
        except RedactionError:
            if fallback is None:
                raise
            # Some files decode as a whole but not frame by frame: try that, in memory.
            log.info("frame-by-frame decoding failed; decoding the whole object")
            _write_in_memory(
                out_path, task.path, fallback, source_header, editor, previews, whole=True
            )
    else:
        _write_in_memory(out_path, task.path, ds, source_header, editor if plan else None, previews)
    if looker is not None:
        _second_look(out_path, frames, config, looker, last=last_look)
    staged = None
    named = out_path
    if task.staged:
        # Almost always the release path: only another file's header can flag more of
        # this file's folders, and then the main process rewrites the sidecar.
        own = set(prefixes_of(task.relpath, flagged))
        predicted = release_relpath(task.relpath, own, anonymizer.pseudo)
        staged = StagedSidecar(signature=signature, phi=phi, predicted=predicted)
        named = config.output.output / predicted
    write_sidecar(
        config.output.headers,
        task.relpath,
        source=_resolved(task.path),
        output=_resolved(named),
        num_frames=frames,
        boxes=task.boxes,
        leaf_union=task.leaf_union,
        leaf_key=task.leaf_key,
        signature=signature,
        phi=phi,
        origins=task.origins,
    )
    preview = ""
    if previews is not None and previews.ready:
        preview = save_previews(config.output.headers, task.relpath, *previews.pair())
    return FileOutcome(
        task.relpath,
        Status.DONE,
        output=str(out_path),
        num_frames=frames,
        boxes=task.boxes,
        preview=preview,
        crosswalk=crosswalk,
        flagged=tuple(flagged),
        sidecar=staged,
    )


def _resolved(path: Path) -> Path:
    """``path.resolve()``, with the folder part resolved once per process: every file of
    a folder (and every output of a release folder) shares it. A name that is itself a
    symbolic link, and a relative path, are resolved in full."""
    name = path.name
    if not path.is_absolute() or name in ("", ".", "..") or os.path.islink(path):
        return path.resolve()
    return Path(_resolved_folder(os.fspath(path.parent)), name)


@functools.lru_cache(maxsize=1024)
def _resolved_folder(folder: str) -> str:
    return os.fspath(Path(folder).resolve())


def _second_look(
    out_path: Path, frames: int, config: DeidConfig, matcher: PhiMatcher, *, last: bool
) -> None:
    """Search the written output's sampled frames again, for PHI only, with the same
    engine, areas and analyzer; if any is still readable (a box that missed part of a
    line, text the first pass did not find), raise :class:`SecondLookFound` with its
    boxes, or, on the ``last`` look, a plain :class:`RedactionError`: either way the
    file's output is removed."""
    header = read_header(out_path)
    pixels = dataclasses.replace(config.pixels, redact="phi")
    found = detect_phi_boxes(
        lambda i: read_frame(out_path, header, i), header, frames, pixels,
        get_engine(pixels), line_analyzer(config.pixels, matcher),
    )  # fmt: skip
    if not found.boxes:
        return
    if last:
        raise RedactionError(
            f"second look: {len(found.boxes)} line(s) of PHI text still readable after "
            "redacting what an earlier look found; not released"
        )
    origins = tuple(
        tuple(dataclasses.replace(o, source=f"{o.source} (second look)") for o in os)
        for os in found.origins
    )
    raise SecondLookFound(found.boxes, origins)


def _write_in_memory(
    out_path: Path,
    source: Path,
    ds: Dataset,
    source_header: Dataset,
    editor: FrameEditor | None,
    previews: _Previews | None,
    *,
    whole: bool = False,
) -> None:
    """Load the pixel data, edit it when asked (``whole``: decoded in one call), write."""
    has_pixels = "PixelData" in source_header
    if has_pixels and (editor is not None or needs_rewrite(source_header)):
        edit_frames(ds, editor or (lambda *_: None), whole=whole)
    if previews is not None:
        previews.from_datasets(source, source_header, ds)
    write_dataset(out_path, ds)


def _editor(ds: Dataset, boxes: list[BBox], relpath: str, config: DeidConfig) -> FrameEditor:
    """The per-frame redaction: fill every box, then stamp replacement text if asked."""
    masks = []
    if config.pixels.random_text:
        rows, cols = int(ds.Rows), int(ds.Columns)
        masks = random_text_masks(boxes, rows, cols, _seed(relpath), config.pixels.text_bold)

    fills: dict[str, Fill] = {}

    def editor(frame: np.ndarray, index: int, photometric: str) -> None:
        # One fill per file (from the first frame), so a cine's black stays steady.
        fill = fills.get(photometric)
        if fill is None:
            fill = fills[photometric] = fill_for(ds, photometric, frame)
        redact_frame(frame, boxes, fill)
        if masks:
            stamp_text(frame, masks, fill)

    return editor


#: Groups the pixel writers and previews read: image pixel, LUTs, and pixel data.
_PIXEL_GROUPS = frozenset({0x0028, 0x7FE0})
_PIXEL_CONTEXT = frozenset({0x00080016, 0x00080060, 0x00280008, 0x00181164})


def _pixel_source(ds: Dataset) -> Dataset:
    """A light copy of what the pixel writers read from the original header (file meta,
    groups 0028 and 7FE0, SOP class, modality), its pixel data still on disk."""
    light = Dataset()
    light.file_meta = copy.deepcopy(ds.file_meta)
    for tag in list(ds.keys()):
        if int(tag) >> 16 in _PIXEL_GROUPS or int(tag) in _PIXEL_CONTEXT:
            light[tag] = copy.deepcopy(ds.get_item(tag, keep_deferred=True))
    implicit, little = ds.original_encoding
    light.set_original_encoding(implicit, little, ds.original_character_set)
    for attribute in ("filename", "timestamp"):
        if hasattr(ds, attribute):
            setattr(light, attribute, getattr(ds, attribute))
    return light


def _write_copied(
    out_path: Path, source: Path, header: Dataset, raw: RawDataElement, *, staged: bool = False
) -> None:
    """Header by pydicom, then the Pixel Data element copied byte for byte.

    A ``staged`` output is written in place: its name is private and the main process
    moves it to its release path only when it is complete.
    """
    syntax = transfer_syntax(header)

    def write(tmp: Path) -> None:
        prepare_header(header, PixelPlan("copy", syntax, syntax))
        implicit = syntax == ImplicitVRLittleEndian
        # Not append mode: the kernel copy refuses O_APPEND.
        with tmp.open("wb") as fh:
            if write_header(header, fh):  # the usual case: one open for the whole file
                copy_pixels(fh, source, raw, implicit=implicit)
                return
        save_dataset(header, tmp)
        with tmp.open("r+b") as fh:
            fh.seek(0, 2)
            copy_pixels(fh, source, raw, implicit=implicit)

    if staged:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write(out_path)
    else:
        atomic_write(out_path, write, mode=default_file_mode())


def _write_streamed(
    out_path: Path,
    source: Path,
    header: Dataset,
    source_header: Dataset,
    plan: PixelPlan,
    editor: FrameEditor | None,
    previews: _Previews | None,
) -> None:
    """Header by pydicom, then the pixel data appended frame by frame; falls back from a
    failed lossless re-encode to an uncompressed copy."""
    fallback = copy.deepcopy(header) if plan.mode == "reencode" else None

    def write(tmp: Path, hdr: Dataset, chosen: PixelPlan) -> None:
        prepare_header(hdr, chosen)
        save_dataset(hdr, tmp)
        with tmp.open("ab") as fh:
            append_pixels(
                fh,
                source,
                hdr,
                chosen,
                editor,
                previews.watch if previews is not None else None,
                source_header,
            )

    mode = default_file_mode()
    try:
        atomic_write(out_path, lambda tmp: write(tmp, header, plan), mode=mode)
    except OutputError:
        if fallback is None:
            raise
        log.info("lossless re-encoding failed; writing uncompressed instead")
        decode = PixelPlan("decode", plan.source_syntax, ExplicitVRLittleEndian)
        atomic_write(out_path, lambda tmp: write(tmp, fallback, decode), mode=mode)


class _Previews:
    """Collects the original and redacted first frame as report thumbnails."""

    def __init__(self, ds: Dataset, max_px: int) -> None:
        self._ds = ds
        self._max_px = max_px
        self.before: Thumbnail | None = None
        self.after: Thumbnail | None = None

    @property
    def ready(self) -> bool:
        return self.before is not None and self.after is not None

    def pair(self) -> tuple[Thumbnail, Thumbnail]:
        assert self.before is not None and self.after is not None
        return self.before, self.after

    def watch(self, original: np.ndarray, index: int, edited: np.ndarray) -> None:
        if index == 0:
            self.before = _thumb(original, self._ds, self._max_px)
            self.after = _thumb(edited, self._ds, self._max_px)

    def from_datasets(self, source: Path, source_header: Dataset, edited: Dataset) -> None:
        from pydicom.pixels.utils import pixel_array

        self.before = _thumb(read_frame(source, source_header, 0), source_header, self._max_px)
        try:
            first = np.asarray(pixel_array(edited, index=0))
        except Exception:
            first = read_frame(source, source_header, 0)
        self.after = _thumb(first, edited, self._max_px)


def _thumb(frame: np.ndarray, ds: Dataset, max_px: int) -> Thumbnail:
    rgb, scale = thumbnail_rgb(to_display(frame, ds, robust=True), max_px)
    return Thumbnail(width=rgb.shape[1], height=rgb.shape[0], rgb=rgb.tobytes(), scale=scale)


def _check_geometry(ds: Dataset) -> None:
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if not ds.get(keyword):
            raise InputError(f"pixel data present but {keyword} is missing")


def _seed(relpath: str) -> int:
    return sum(relpath.encode("utf-8")) * 2654435761 % (1 << 32)


def _reason(exc: BaseException) -> str:
    """A PHI-free, one-line reason: our own messages as they are, others by type."""
    if isinstance(exc, DicomScrubError):
        return " ".join(str(exc).split())[:500] or type(exc).__name__
    return f"unexpected {type(exc).__name__}"
