"""Frame access shared by both writers, and the in-memory writer.

The usual path is :mod:`dicomscrub.io.pixelstream` (frame by frame into the output).
This module holds what both need (transfer syntax, frame count, decoding one frame,
clearing bits above HighBit) and the in-memory path for what cannot be streamed
(deflated data sets, 1-bit data, files that decode only as a whole): native data is
edited through a NumPy view of the stored bytes; compressed data is decoded and written
as Explicit VR Little Endian, never re-encoded lossily.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.utils import iter_pixels, pack_bits, pixel_array, unpack_bits
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from dicomscrub.errors import RedactionError
from dicomscrub.header.encoding import syntax_uid

log = logging.getLogger(__name__)

#: Compressed syntaxes we re-encode in place after redaction (lossless both ways).
REENCODABLE = frozenset({RLELossless, JPEGLSLossless, JPEG2000Lossless})
#: Compressed syntaxes that lose nothing (the rest are lossy or may be).
LOSSLESS_COMPRESSED = frozenset(
    {
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
        UID("1.2.840.10008.1.2.4.57"),  # JPEG Lossless
        UID("1.2.840.10008.1.2.4.70"),  # JPEG Lossless SV1
        UID("1.2.840.10008.1.2.4.201"),  # HTJ2K Lossless
        UID("1.2.840.10008.1.2.4.202"),  # HTJ2K Lossless RPCL
    }
)
#: Photometric interpretations of native data we can edit directly.
NATIVE_EDITABLE = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL"})

#: ``editor(frame, index, photometric)``: edits one frame in place; ``photometric`` is the
#: colour model of the frame as handed over (decoders return YBR data as RGB).
FrameEditor = Callable[[np.ndarray, int, str], None]


def transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax (Explicit VR Little Endian when unknown)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        little = getattr(ds, "is_little_endian", True)
        implicit = getattr(ds, "is_implicit_VR", False)
        if little is False:
            return ExplicitVRBigEndian
        return UID("1.2.840.10008.1.2") if implicit else ExplicitVRLittleEndian
    return syntax_uid(str(uid))


def number_of_frames(ds: Dataset) -> int:
    """NumberOfFrames, 1 when absent or invalid, 0 without pixel data."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return 0
    try:
        value = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        value = 1
    return max(value, 1)


def read_frame(path: Path, ds: Dataset, index: int) -> np.ndarray:
    """Decode one frame (colour converted to RGB) without decoding the others."""
    try:
        return np.asarray(pixel_array(path, index=index))
    except Exception as first:
        try:
            return np.asarray(pixel_array(ds, index=index))
        except Exception as exc:
            raise decode_failure(exc) from first


def iter_frames(path: Path, ds: Dataset, indices: Sequence[int]) -> Iterator[np.ndarray]:
    """Decode the frames at ``indices`` (ascending) in one pass over the file, one at a
    time; if the pass breaks off, the rest are decoded one by one."""
    done = 0
    try:
        for arr in iter_pixels(path, indices=list(indices)):
            yield np.asarray(arr)
            done += 1
    except Exception:
        log.debug("one-pass decoding stopped after %d frames; going on frame by frame", done)
        for index in indices[done:]:
            yield read_frame(path, ds, index)


def edit_frames(ds: Dataset, editor: FrameEditor, *, whole: bool = False) -> str:
    """Run ``editor(frame, index, photometric)`` on every frame of ``ds``, store the result.

    ``whole`` decodes compressed data in one call instead of frame by frame (some files
    only decode that way). Returns a short note on how the pixel data was written.
    """
    syntax = transfer_syntax(ds)
    if not syntax.is_compressed and syntax != ExplicitVRBigEndian:
        return _edit_native(ds, editor)
    return _edit_compressed(ds, syntax, editor, whole=whole)


def check_native_length(available: int, expected: int) -> None:
    """Native pixel data must hold exactly the declared frames (plus one pad byte):
    fewer cannot be redacted, more would leave frames outside NumberOfFrames unseen."""
    if available < expected:
        raise RedactionError("pixel data is shorter than Rows x Columns x frames")
    if available > expected + 1:
        raise RedactionError("pixel data holds more than NumberOfFrames frames")


def clear_unused_bits(samples: np.ndarray, ds: Dataset) -> None:
    """Zero (or sign-extend over) the bits above HighBit, in place.

    Those bits are not pixel data; retired objects keep overlays in them, which a
    decoder never shows and OCR therefore never reads.
    """
    allocated = int(ds.BitsAllocated)
    stored = int(ds.get("BitsStored", allocated) or allocated)
    high = int(ds.get("HighBit", stored - 1) if ds.get("HighBit") is not None else stored - 1)
    if stored >= allocated or samples.dtype.itemsize * 8 != allocated:
        return
    signed = samples.dtype.kind == "i"
    if signed:
        if high != stored - 1:
            raise RedactionError("signed pixel data with an unusual HighBit cannot be cleaned")
        shift = allocated - stored
        samples[...] = (samples << shift) >> shift
    else:
        mask = ((1 << stored) - 1) << (high - stored + 1)
        samples &= np.asarray(mask, dtype=samples.dtype)


def has_unused_bits(samples: np.ndarray, ds: Dataset) -> bool:
    """True when :func:`clear_unused_bits` would change ``samples``."""
    allocated = int(ds.BitsAllocated)
    stored = int(ds.get("BitsStored", allocated) or allocated)
    high = int(ds.get("HighBit", stored - 1) if ds.get("HighBit") is not None else stored - 1)
    if stored >= allocated or samples.dtype.itemsize * 8 != allocated:
        return False
    if samples.dtype.kind == "i":
        if high != stored - 1:
            return True  # clearing refuses these: let it say so
        limit = 1 << (stored - 1)
        return bool(samples.size) and (int(samples.min()) < -limit or int(samples.max()) >= limit)
    if not samples.size:
        return False
    mask = ((1 << stored) - 1) << (high - stored + 1)
    every_bit = int(np.bitwise_or.reduce(samples, axis=None))  # one pass, no temporary
    return bool(every_bit & ~mask & ((1 << allocated) - 1))


def _native_view(ds: Dataset) -> np.ndarray:
    rows, cols = int(ds.Rows), int(ds.Columns)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = number_of_frames(ds)
    bits = int(ds.BitsAllocated)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}.get(bits)
    if dtype is None:
        raise RedactionError(f"native BitsAllocated {bits} cannot be edited")
    if signed:
        dtype = {8: np.int8, 16: np.int16, 32: np.int32}[bits]
    data = np.frombuffer(bytearray(ds.PixelData), dtype=np.dtype(dtype).newbyteorder("<"))
    expected = frames * rows * cols * spp
    check_native_length(data.nbytes, expected * data.itemsize)
    data = data[:expected]
    clear_unused_bits(data, ds)
    if spp == 1:
        return data.reshape(frames, rows, cols)
    if int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        return data.reshape(frames, spp, rows, cols).transpose(0, 2, 3, 1)
    return data.reshape(frames, rows, cols, spp)


def _edit_native(ds: Dataset, editor: FrameEditor) -> str:
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in NATIVE_EDITABLE:
        raise RedactionError(f"native {photometric or 'unknown'} pixel data cannot be edited")
    if int(ds.BitsAllocated) == 1:
        frames = number_of_frames(ds)
        rows, cols = int(ds.Rows), int(ds.Columns)
        unpacked = np.asarray(unpack_bits(ds.PixelData))
        bits = unpacked[: frames * rows * cols].reshape(frames, rows, cols)
        for index in range(frames):
            editor(bits[index], index, photometric)
        ds.PixelData = pack_bits(bits.ravel())
        return "native 1-bit, edited in place"
    view = _native_view(ds)
    for index in range(view.shape[0]):
        editor(view[index], index, photometric)
    base = view.base if view.base is not None else view
    raw = np.ascontiguousarray(base).tobytes()
    stored = bytes(ds.PixelData)
    ds.PixelData = raw + stored[len(raw) :]
    return "native, edited in place"


def _decoded_frames(ds: Dataset, frames: int, whole: bool) -> Iterator[np.ndarray]:
    if not whole:
        yield from iter_pixels(ds)
        return
    arr = np.asarray(pixel_array(ds))
    yield from (arr if frames > 1 else arr[np.newaxis])


def _edit_compressed(ds: Dataset, syntax: UID, editor: FrameEditor, *, whole: bool) -> str:
    frames = number_of_frames(ds)
    one_bit = int(ds.get("BitsAllocated", 0) or 0) == 1
    out: np.ndarray | None = None
    source = str(ds.get("PhotometricInterpretation", "")).strip()
    decoded = 0
    try:
        for index, frame in enumerate(_decoded_frames(ds, frames, whole)):
            if index >= frames:
                raise RedactionError("pixel data holds more than NumberOfFrames frames")
            arr = np.array(frame, copy=True)
            clear_unused_bits(arr, ds)
            rgb = arr.ndim == 3 and source.startswith("YBR")
            editor(arr, index, "RGB" if rgb else source)
            if out is None:
                out = np.zeros((frames, *arr.shape), dtype=arr.dtype)
            out[index] = arr
            decoded += 1
    except RedactionError:
        raise
    except Exception as exc:
        raise decode_failure(exc) from exc
    if out is None or decoded != frames:
        raise RedactionError(f"decoded {decoded} of {frames} frames")
    spp = out.shape[-1] if out.ndim == 4 else 1
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if spp == 3 and photometric.startswith("YBR"):
        ds.PhotometricInterpretation = "RGB"
    if spp == 3:
        ds.PlanarConfiguration = 0
    if out.dtype.itemsize == 1:
        ds.BitsAllocated = 8
    elif out.dtype.itemsize == 2:
        ds.BitsAllocated = 16
    if syntax.is_compressed and syntax not in LOSSLESS_COMPRESSED:
        ds.LossyImageCompression = "01"
    if one_bit and spp == 1:  # big endian 1-bit (segmentations): stays packed 1-bit
        ds.BitsAllocated = 1
        ds.PixelData = pack_bits(out.ravel())
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = out.astype(out.dtype.newbyteorder("<"), copy=False).tobytes()
        ds["PixelData"].VR = "OB" if ds.BitsAllocated <= 8 else "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return f"decoded from {syntax.name}, written as Explicit VR Little Endian"


def decode_failure(exc: BaseException) -> RedactionError:
    """The failure for undecodable pixel data, with the decoders' own explanation.

    Decoder messages describe codecs and byte counts, never element values; they are
    kept (on one line, at most 400 characters) because they tell the user what to install
    or why the file is broken.
    """
    text = " ".join(str(exc).split())
    if len(text) > 400:
        text = text[:399] + "…"
    return RedactionError(f"pixel data cannot be decoded ({type(exc).__name__}: {text})")
