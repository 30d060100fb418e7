"""Write an output file with its pixel data streamed one frame at a time.

The header (already de-identified) is written by pydicom without its pixel data; the
Pixel Data element is then appended frame by frame, so a cine of any length costs one
frame of memory:

- ``native``: uncompressed little endian input. Each frame's bytes are read straight
  from the file at their offset, edited in place and written back, so pixels outside the
  boxes stay bit-exact (high bits included). The transfer syntax is kept.
- ``reencode``: RLE, JPEG-LS lossless and JPEG 2000 lossless. Frames are decoded one at
  a time, edited and encoded again, losslessly, in the same syntax.
- ``copy``: nothing to change (header-only runs, no boxes): the stored Pixel Data bytes,
  native or encapsulated, are copied from the input file by the kernel, never decoded
  or even read into Python.
- ``decode``: everything else pydicom can decode (lossy JPEG, JPEG lossless, big
  endian...). Frames are decoded (colour as RGB), edited and written uncompressed as
  Explicit VR Little Endian; lossy input keeps LossyImageCompression = 01. Never
  re-encoded lossily.

Inputs that fit none of these (deflated data sets, 1-bit data) use the in-memory path of
:mod:`dicomscrub.io.frames`.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.pixels.encoders.base import get_encoder
from pydicom.pixels.utils import iter_pixels
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian

from dicomscrub.errors import RedactionError
from dicomscrub.io.frames import (
    LOSSLESS_COMPRESSED,
    NATIVE_EDITABLE,
    REENCODABLE,
    FrameEditor,
    check_native_length,
    clear_unused_bits,
    decode_failure,
    has_unused_bits,
    number_of_frames,
    transfer_syntax,
)

log = logging.getLogger(__name__)

PIXEL_DATA = 0x7FE00010
#: Called with (frame, index) after the editor ran, e.g. to keep a preview of frame 0.
FrameWatcher = Callable[[np.ndarray, int, np.ndarray], None]

_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
_SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


@dataclass(frozen=True, slots=True)
class PixelPlan:
    """How the pixel data of one file will be written."""

    mode: str  # "native" | "reencode" | "decode" | "memory" | "copy"
    source_syntax: UID
    out_syntax: UID


def needs_rewrite(ds: Dataset, source: Path | None = None) -> bool:
    """True when the pixel data must be rewritten even without boxes: bits above HighBit
    (which may hold a retired embedded overlay) or a declared embedded overlay.

    With ``source`` (the file ``ds`` was read from, pixel data deferred), native little
    endian data whose bits outside BitsStored are all zero already is read once to
    show that, so it can be copied as stored instead.
    """
    for tag in ds.keys():  # noqa: SIM118 - iteration would load deferred values
        number = int(tag)
        is_bit_position = (number >> 16) & 0xFF01 == 0x6000 and number & 0xFFFF == 0x0102
        if is_bit_position and int(ds[tag].value or 0) > 0:
            return True
    allocated = int(ds.get("BitsAllocated", 0) or 0)
    stored = int(ds.get("BitsStored", allocated) or allocated)
    if not 0 < stored < allocated or transfer_syntax(ds).is_compressed:
        return False
    return source is None or _stored_bits_unclean(source, ds)


_SCAN_BYTES = 8 << 20


def _stored_bits_unclean(source: Path, ds: Dataset) -> bool:
    """True unless the stored native samples provably have nothing outside BitsStored
    (anything this cannot read, it leaves to the rewrite)."""
    syntax = transfer_syntax(ds)
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True)
    bits = int(ds.BitsAllocated)
    if (
        syntax == ExplicitVRBigEndian
        or syntax.is_deflated
        or bits not in (8, 16, 32)
        or not isinstance(raw, RawDataElement)
        or raw.value_tell is None
        or raw.value is not None
        or raw.length == 0xFFFFFFFF
    ):
        return True
    dtype = _geometry(ds, bits).dtype
    usable = raw.length - raw.length % dtype.itemsize
    try:
        return _mapped_unclean(source, raw.value_tell, usable, dtype, ds)
    except (OSError, ValueError):
        pass  # a file system without mmap: read it in blocks instead
    step = _SCAN_BYTES - _SCAN_BYTES % dtype.itemsize
    buffer = bytearray(min(step, usable))
    view = memoryview(buffer)
    with source.open("rb", buffering=0) as src:
        src.seek(raw.value_tell)
        done = 0
        while done < usable:
            got = src.readinto(view[: min(step, usable - done)])
            if not got or got % dtype.itemsize:
                return True
            if has_unused_bits(np.frombuffer(view[:got], dtype=dtype), ds):
                return True
            done += got
    return False


def _mapped_unclean(
    source: Path, start: int, count: int, dtype: np.dtype[Any], ds: Dataset
) -> bool:
    """:func:`has_unused_bits` over ``count`` bytes of samples at ``start``, looked at
    where the page cache holds them (no copy), one window at a time so that the
    process's memory does not grow with the file."""
    window = _SCAN_BYTES  # a multiple of the page size and of every sample size
    with source.open("rb") as src:
        if start + count > os.fstat(src.fileno()).st_size:
            return True
        position = start
        while position < start + count:
            base = position - position % mmap.ALLOCATIONGRANULARITY
            length = min(base + window, start + count) - base
            with mmap.mmap(src.fileno(), length, prot=mmap.PROT_READ, offset=base) as mapped:
                skip = position - base
                whole = (length - skip) // dtype.itemsize  # samples wholly in this window
                if whole == 0:
                    return True
                samples = np.frombuffer(mapped, dtype, whole, skip)
                try:
                    unclean = has_unused_bits(samples, ds)
                except Exception:  # the rewrite will say what is wrong with these samples
                    unclean = True
                del samples  # a map cannot close while a view of it is alive
                if unclean:
                    return True
            position += whole * dtype.itemsize
    return False


def plan_pixels(ds: Dataset) -> PixelPlan:
    """Choose how to write the pixel data of ``ds`` (read with deferred pixel data)."""
    syntax = transfer_syntax(ds)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    bits = int(ds.get("BitsAllocated", 0) or 0)
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True)
    streamable = isinstance(raw, RawDataElement) and raw.value_tell is not None
    if syntax == ExplicitVRBigEndian:
        if not streamable:
            raise RedactionError("big endian pixel data of this layout is not supported")
        return PixelPlan("decode", syntax, ExplicitVRLittleEndian)
    if syntax.is_deflated or bits == 1 or not streamable:
        return PixelPlan("memory", syntax, syntax)
    if not syntax.is_compressed and syntax != ExplicitVRBigEndian:
        if photometric in NATIVE_EDITABLE and bits in (8, 16, 32):
            return PixelPlan("native", syntax, syntax)
        return PixelPlan("memory", syntax, syntax)
    if syntax in REENCODABLE and _can_reencode(syntax, photometric):
        return PixelPlan("reencode", syntax, syntax)
    return PixelPlan("decode", syntax, ExplicitVRLittleEndian)


def _can_reencode(syntax: UID, photometric: str) -> bool:
    if photometric in ("YBR_RCT", "YBR_ICT", "YBR_FULL_422"):
        return False  # decoders convert these; re-encoding would change the colour model
    try:
        return bool(get_encoder(syntax).is_available)
    except Exception:
        return False


def prepare_header(ds: Dataset, plan: PixelPlan) -> None:
    """Make the header describe the pixel data as it will be written; drop the old data.

    Elements after Pixel Data (trailing padding, signatures) are dropped too: the pixel
    data is appended at the end of the file.
    """
    if plan.mode == "decode":
        photometric = str(ds.get("PhotometricInterpretation", "")).strip()
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        if spp == 3:
            if photometric.startswith("YBR"):
                ds.PhotometricInterpretation = "RGB"
            ds.PlanarConfiguration = 0
        bits_stored = int(ds.get("BitsStored", ds.BitsAllocated) or ds.BitsAllocated)
        ds.BitsAllocated = 8 if bits_stored <= 8 else 16 if bits_stored <= 16 else 32
        if plan.source_syntax.is_compressed and plan.source_syntax not in LOSSLESS_COMPRESSED:
            ds.LossyImageCompression = "01"
        ds.file_meta.TransferSyntaxUID = plan.out_syntax
    # keys(), not iteration: iterating a Dataset would load the deferred pixel data.
    for tag in [t for t in ds.keys() if int(t) >= PIXEL_DATA]:  # noqa: SIM118
        del ds[tag]


def append_pixels(
    fh: BinaryIO,
    source: Path,
    header: Dataset,
    plan: PixelPlan,
    editor: FrameEditor | None,
    watcher: FrameWatcher | None,
    source_ds: Dataset,
) -> str:
    """Append the Pixel Data element to ``fh``, streaming frames; return a short note.

    ``source_ds`` is the header as read (for geometry and decoding); ``header`` the
    output header as written (for the explicit/implicit choice).
    """
    frames = number_of_frames(source_ds)
    implicit = header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    if plan.mode == "native":
        _native(fh, source, source_ds, frames, implicit, editor, watcher)
        return "native, edited in place"
    if plan.mode == "reencode":
        _encapsulated(fh, source, source_ds, plan.source_syntax, frames, editor, watcher)
        return f"re-encoded losslessly in {plan.source_syntax.name}"
    _decoded(fh, source, source_ds, header, frames, editor, watcher)
    return f"decoded from {plan.source_syntax.name}, written as Explicit VR Little Endian"


def check_copied_length(ds: Dataset, raw: RawDataElement) -> None:
    """Native pixel data to be copied as stored must hold exactly NumberOfFrames frames,
    as the native rewrite requires (compressed data is checked frame by frame when it is
    read; 1-bit data never takes the copy path)."""
    syntax = transfer_syntax(ds)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if syntax.is_compressed or raw.length == 0xFFFFFFFF or bits not in (8, 16, 32):
        return
    check_native_length(raw.length, _geometry(ds, bits).frame_bytes * number_of_frames(ds))


def copy_pixels(fh: BinaryIO, source: Path, raw: RawDataElement, implicit: bool) -> str:
    """Append the Pixel Data element of ``source`` exactly as stored; return a note."""
    start = raw.value_tell
    if start is None:
        raise RedactionError("pixel data position unknown; cannot copy it")
    if raw.length == 0xFFFFFFFF:
        end = _encapsulated_end(source, start)
        fh.write(_element_header(b"OB", 0xFFFFFFFF, implicit))
    else:
        end = start + raw.length
        vr = (raw.VR or "OW").encode("ascii")
        fh.write(_element_header(vr if vr in (b"OB", b"OW") else b"OW", raw.length, implicit))
    fh.flush()
    _copy_range(source, fh, start, end - start)
    return "copied as stored"


def _encapsulated_end(source: Path, start: int) -> int:
    """Offset just past the sequence delimiter of encapsulated pixel data at ``start``."""
    pos = start
    size = source.stat().st_size
    with source.open("rb") as src:
        while pos + 8 <= size:
            src.seek(pos)
            group, element, length = struct.unpack("<HHI", src.read(8))
            if (group, element) == (0xFFFE, 0xE0DD):
                return pos + 8
            if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
                break
            pos += 8 + length
    raise RedactionError("encapsulated pixel data has no proper end")


def _copy_range(source: Path, fh: BinaryIO, offset: int, count: int) -> None:
    """Copy ``count`` bytes of ``source`` from ``offset`` to the end of ``fh`` in the
    kernel: ``copy_file_range`` on one file system, ``sendfile`` across two."""
    fh.seek(0, os.SEEK_END)
    with source.open("rb") as src:
        left = count
        try:
            while left > 0:
                done = os.copy_file_range(src.fileno(), fh.fileno(), left, offset)
                if done == 0:
                    break
                offset, left = offset + done, left - done
        except OSError:  # another file system (EXDEV) or no copy_file_range
            while left > 0:
                done = os.sendfile(fh.fileno(), src.fileno(), offset, left)
                if done == 0:
                    break
                offset, left = offset + done, left - done
    if left:
        raise RedactionError("pixel data ends before its declared length")


def _element_header(vr: bytes, length: int, implicit: bool) -> bytes:
    if implicit:
        return struct.pack("<HHI", 0x7FE0, 0x0010, length)
    return struct.pack("<HH2sHI", 0x7FE0, 0x0010, vr, 0, length)


@dataclass(frozen=True, slots=True)
class _Geometry:
    rows: int
    cols: int
    spp: int
    dtype: np.dtype[Any]
    photometric: str

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.cols * self.spp * self.dtype.itemsize


def _geometry(ds: Dataset, bits: int) -> _Geometry:
    """Frame shape and little endian sample type of ``ds`` at ``bits`` per sample."""
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    return _Geometry(
        rows=int(ds.Rows),
        cols=int(ds.Columns),
        spp=int(ds.get("SamplesPerPixel", 1) or 1),
        dtype=np.dtype(f"<{'i' if signed else 'u'}{bits // 8}"),
        photometric=str(ds.get("PhotometricInterpretation", "")).strip(),
    )


def _native(
    fh: BinaryIO,
    source: Path,
    ds: Dataset,
    frames: int,
    implicit: bool,
    editor: FrameEditor | None,
    watcher: FrameWatcher | None,
) -> None:
    bits = int(ds.BitsAllocated)
    g = _geometry(ds, bits)
    rows, cols, spp, dtype, frame_bytes = g.rows, g.cols, g.spp, g.dtype, g.frame_bytes
    planar = spp > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True)
    assert isinstance(raw, RawDataElement) and raw.value_tell is not None
    check_native_length(raw.length, frame_bytes * frames)
    total = frame_bytes * frames
    fh.write(_element_header(b"OB" if bits <= 8 else b"OW", total + total % 2, implicit))
    with source.open("rb") as src:
        for index in range(frames):
            src.seek(raw.value_tell + index * frame_bytes)
            buf = bytearray(src.read(frame_bytes))
            if len(buf) != frame_bytes:
                raise RedactionError("pixel data ends before the last frame")
            flat = np.frombuffer(buf, dtype=dtype)
            clear_unused_bits(flat, ds)
            if spp == 1:
                frame = flat.reshape(rows, cols)
            elif planar:
                frame = flat.reshape(spp, rows, cols).transpose(1, 2, 0)
            else:
                frame = flat.reshape(rows, cols, spp)
            _edit(frame, index, g.photometric, editor, watcher)
            fh.write(buf)
    if total % 2:
        fh.write(b"\0")


def _edit(
    frame: np.ndarray,
    index: int,
    photometric: str,
    editor: FrameEditor | None,
    watcher: FrameWatcher | None,
) -> None:
    original = frame.copy() if watcher is not None and index == 0 else frame
    if editor is not None:
        editor(frame, index, photometric)
    if watcher is not None:
        watcher(original, index, frame)


def _iter_decoded(source: Path, ds: Dataset, *, raw: bool) -> Iterator[np.ndarray]:
    try:
        for frame in iter_pixels(source, raw=raw):
            yield np.array(frame, copy=True)
    except RedactionError:
        raise
    except Exception as exc:
        raise decode_failure(exc) from exc


def _decoded(
    fh: BinaryIO,
    source: Path,
    ds: Dataset,
    header: Dataset,
    frames: int,
    editor: FrameEditor | None,
    watcher: FrameWatcher | None,
) -> None:
    bits_out = int(header.BitsAllocated)
    g = _geometry(ds, bits_out)
    total = g.frame_bytes * frames
    fh.write(_element_header(b"OB" if bits_out <= 8 else b"OW", total + total % 2, False))
    written = 0
    for index, frame in enumerate(_iter_decoded(source, ds, raw=False)):
        if index >= frames:
            break
        clear_unused_bits(frame, ds)
        rgb = frame.ndim == 3 and g.photometric.startswith("YBR")
        _edit(frame, index, "RGB" if rgb else g.photometric, editor, watcher)
        data = frame.astype(g.dtype, copy=False).tobytes()
        fh.write(data)
        written += len(data)
    if written != total:
        raise RedactionError(f"decoded {written} of {total} bytes of pixel data")
    if total % 2:
        fh.write(b"\0")


def _encapsulated(
    fh: BinaryIO,
    source: Path,
    ds: Dataset,
    syntax: UID,
    frames: int,
    editor: FrameEditor | None,
    watcher: FrameWatcher | None,
) -> None:
    encoder = get_encoder(syntax)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    options: dict[str, Any] = {
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "samples_per_pixel": int(ds.get("SamplesPerPixel", 1) or 1),
        "bits_allocated": int(ds.BitsAllocated),
        "bits_stored": int(ds.BitsStored),
        "pixel_representation": int(ds.get("PixelRepresentation", 0) or 0),
        "photometric_interpretation": photometric,
        "planar_configuration": int(ds.get("PlanarConfiguration", 0) or 0),
        "number_of_frames": 1,
    }
    fh.write(_element_header(b"OB", 0xFFFFFFFF, False))
    fh.write(_ITEM + struct.pack("<I", 0))  # empty Basic Offset Table
    count = 0
    for index, frame in enumerate(_iter_decoded(source, ds, raw=True)):
        clear_unused_bits(frame, ds)
        _edit(frame, index, photometric, editor, watcher)
        fragment = encoder.encode(frame, **options)
        if len(fragment) % 2:
            fragment += b"\0"
        fh.write(_ITEM + struct.pack("<I", len(fragment)))
        fh.write(fragment)
        count += 1
    if count != frames:
        raise RedactionError(f"decoded {count} of {frames} frames")
    fh.write(_SEQ_END)
