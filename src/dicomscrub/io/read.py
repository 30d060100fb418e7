"""Recognise DICOM files by content and read them."""

from __future__ import annotations

import struct
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomscrub.errors import InputError
from dicomscrub.io.headerread import read_header_fast

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_IDENTIFYING = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "Modality", "PatientID")


class FileKind:
    """What discovery found at a path."""

    DICOM = "dicom"
    DICOMDIR = "dicomdir"
    NOT_DICOM = "not-dicom"


def sniff(path: Path) -> str:
    """Classify ``path`` as DICOM, DICOMDIR or not DICOM by its content, not its name.

    A file with the ``DICM`` preamble marker is DICOM. Without it, the first element must
    look like a group 0002/0008 tag in either byte order and a forced parse must yield an
    identifying attribute.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return FileKind.NOT_DICOM
    if len(head) >= 132 and head[128:132] == b"DICM":
        sop_class = _meta_sop_class(head)
        if sop_class is not None and path.name.upper() != "DICOMDIR":
            return FileKind.DICOMDIR if sop_class == DICOMDIR_SOP_CLASS else FileKind.DICOM
        return _dicomdir_or_dicom(path)
    if len(head) < 8:
        return FileKind.NOT_DICOM
    group_le = struct.unpack("<H", head[:2])[0]
    group_be = struct.unpack(">H", head[:2])[0]
    if group_le not in (0x0002, 0x0008) and group_be not in (0x0002, 0x0008):
        return FileKind.NOT_DICOM
    try:
        ds = dcmread(path, force=True, stop_before_pixels=True)
    except Exception:
        return FileKind.NOT_DICOM
    if not any(k in ds for k in _IDENTIFYING):
        return FileKind.NOT_DICOM
    return _dicomdir_or_dicom(path, ds)


_HEAD_BYTES = 4096
_META_ELEMENT = struct.Struct("<HH2sH")


def _meta_sop_class(head: bytes) -> str | None:
    """MediaStorageSOPClassUID from the file meta group (explicit VR little endian right
    after ``DICM``), or ``None`` when it cannot be read from these bytes alone."""
    pos = 132
    while pos + 8 <= len(head):
        group, element, vr, length = _META_ELEMENT.unpack_from(head, pos)
        if group != 0x0002:
            return None
        pos += 8
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            if pos + 4 > len(head):
                return None
            length = struct.unpack_from("<I", head, pos)[0]
            pos += 4
        if pos + length > len(head):
            return None
        if element == 0x0002:
            return head[pos : pos + length].decode("ascii", "replace").rstrip("\x00 ")
        pos += length
    return None


def _dicomdir_or_dicom(path: Path, ds: Dataset | None = None) -> str:
    if path.name.upper() == "DICOMDIR":
        return FileKind.DICOMDIR
    try:
        if ds is None:
            ds = dcmread(path, force=True, stop_before_pixels=True, specific_tags=[])
        meta = getattr(ds, "file_meta", None)
        sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    except Exception:
        return FileKind.DICOM
    return FileKind.DICOMDIR if sop == DICOMDIR_SOP_CLASS else FileKind.DICOM


#: Values longer than this stay on disk until asked for (pixel data above all).
DEFER_SIZE = 4096


def read_header(path: Path) -> Dataset:
    """Read the header; large values (pixel data) stay on disk until asked for."""
    ds: Dataset | None = read_header_fast(path, DEFER_SIZE)  # pydicom's result, faster
    if ds is None:
        try:
            ds = dcmread(path, force=True, defer_size=DEFER_SIZE)
        except Exception as exc:
            raise InputError(f"unreadable DICOM header ({type(exc).__name__})") from exc
    if len(ds) == 0:
        raise InputError("no data elements could be read")
    _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Record how a file without (0002,0010) was actually read, so decoders can use it."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = False, True
    if not little:
        meta.TransferSyntaxUID = ExplicitVRBigEndian
    else:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def read_full(path: Path) -> Dataset:
    """Read the whole object, pixel data as stored (not decoded)."""
    try:
        ds = dcmread(path, force=True)
    except Exception as exc:
        raise InputError(f"unreadable DICOM file ({type(exc).__name__})") from exc
    if len(ds) == 0:
        raise InputError("no data elements could be read")
    _ensure_transfer_syntax(ds)
    return ds
