"""A faster writer for de-identified datasets, equivalent to pydicom's ``dcmwrite``.

Most elements of a de-identified header are kept as they were read and never decoded
(they are still pydicom ``RawDataElement``\\ s). pydicom's writer spends tens of
microseconds per element on them; here an undecoded element whose encoding matches the
output is written as tag, VR, length and its stored bytes. Everything else (decoded or
new elements, undefined lengths, a changed encoding or character set) goes through
pydicom's own element writer, and sequences are written with undefined lengths. Only
little endian output is handled; the caller falls back to ``dcmwrite`` otherwise.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, cast

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO, DicomFileLike
from pydicom.filewriter import (
    write_data_element,
    write_dataset,
    write_file_meta_info,
)
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID, ImplicitVRLittleEndian

from dicomscrub.header.dictionary import text_value
from dicomscrub.header.encoding import (
    ITEM,
    ITEM_END,
    SEQ_END,
    UNDEFINED,
    element_header,
    encode_stored,
    encode_text_values,
)


class Unsupported(Exception):
    """The dataset needs pydicom's general writer (big endian, deflated, bad file meta)."""


def save_fast(ds: Dataset, path: Path) -> None:
    """Write ``ds`` with preamble and file meta; raise :class:`Unsupported` when the
    general writer is needed instead (nothing usable is left at ``path`` then)."""
    meta, implicit = _prepared(ds)
    with path.open("wb") as raw:
        _write(raw, ds, meta, implicit)


def write_fast(ds: Dataset, fh: BinaryIO) -> None:
    """:func:`save_fast` into a file opened for writing (and left open, positioned after
    the data set); :class:`Unsupported` is raised before anything is written."""
    meta, implicit = _prepared(ds)
    _write(fh, ds, meta, implicit)


def _prepared(ds: Dataset) -> tuple[FileMetaDataset, bool]:
    """The file meta made to describe ``ds``, and whether it is written implicit VR."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        raise Unsupported("no file meta")
    syntax = UID(str(meta.get("TransferSyntaxUID", "") or ""))
    if not syntax or not syntax.is_little_endian or syntax.is_deflated:
        raise Unsupported("only plain little endian syntaxes")
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = text_value(ds, 0x00080016)
    instance = text_value(ds, 0x00080018)
    if instance:
        meta.MediaStorageSOPInstanceUID = instance
    try:
        validate_file_meta(meta, enforce_standard=True)
    except (ValueError, AttributeError) as exc:
        raise Unsupported("incomplete file meta") from exc
    if "PixelData" in ds and not ds.get_item(0x7FE00010).is_raw:
        ds["PixelData"].is_undefined_length = syntax.is_compressed
    return meta, syntax == ImplicitVRLittleEndian


def _write(raw: BinaryIO, ds: Dataset, meta: FileMetaDataset, implicit: bool) -> None:
    fp = DicomFileLike(raw)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    fp.write(b"\x00" * 128 + b"DICM")
    encoded_meta = _meta_bytes(meta)
    if encoded_meta is None:
        write_file_meta_info(fp, meta, enforce_standard=True)
    else:
        fp.write(encoded_meta)
    fp.is_implicit_VR = implicit
    _write_level(fp, ds, "iso8859", implicit)


def _write_level(fp: DicomFileLike, ds: Dataset, parent_encoding: object, implicit: bool) -> None:
    if not (_as_read(ds, implicit) or _made_here(ds)):
        write_dataset(fp, ds, parent_encoding)  # type: ignore[arg-type]
        return
    encoding = ds.get("SpecificCharacterSet", parent_encoding)
    # Sorted as plain numbers (the same order; a tag's own comparison is slower).
    elements: list[tuple[BaseTag, DataElement | RawDataElement]] = list(ds.items())
    for tag, elem in sorted(elements, key=_numeric_key):
        if not tag & 0xFFFF and tag >> 16 > 6:
            continue  # retired group lengths, as pydicom
        if isinstance(elem, RawDataElement) and elem.value is None:
            elem = ds[tag]  # deferred: read (and decoded) as ds.get_item(tag) does
        if isinstance(elem, RawDataElement) and (
            elem.is_implicit_VR != implicit or not elem.is_little_endian
        ):
            elem = ds[tag]  # stored in another encoding than the file claims: decode it
        if isinstance(elem, RawDataElement):
            if elem.length != UNDEFINED:
                fp.write(encode_stored(int(tag), elem.VR, elem.value or b"", implicit))
                continue
            if elem.VR == "SQ" or (implicit and elem.VR is None):
                # A sequence still encoded (one the anonymiser rewrote, say): its items as
                # stored between the header and the delimiter, as pydicom writes it.
                value = elem.value or b""
                fp.write(element_header(int(tag), "SQ", UNDEFINED, implicit) + value + SEQ_END)
                continue
        if not elem.is_raw and elem.VR == "SQ":
            fp.write(element_header(int(tag), "SQ", UNDEFINED, implicit))
            items = cast(list[Dataset], elem.value or [])
            for item in items:
                fp.write(ITEM)
                _write_level(fp, item, encoding, implicit)
                fp.write(ITEM_END)
            fp.write(SEQ_END)
        else:
            fp.write(_element_bytes(elem, encoding, implicit))


def _numeric_key(item: tuple[BaseTag, object]) -> int:
    return int(item[0])


#: Value types whose written bytes depend on the value alone (equal values of the same
#: type: the same bytes), so that a decoded element seen before is not written again.
_PLAIN_VALUE_TYPES = frozenset({str, UID, int})
_WRITTEN: dict[tuple[object, ...], bytes] = {}
_WRITTEN_LIMIT = 4096


def _element_bytes(elem: DataElement | RawDataElement, encoding: object, implicit: bool) -> bytes:
    """What pydicom's element writer writes for ``elem`` (remembered for plain values:
    the character set, SOP class, image geometry and such come back in every file)."""
    value = elem.value
    key = None
    if isinstance(elem, DataElement) and type(value) in _PLAIN_VALUE_TYPES:
        charset = tuple(encoding) if isinstance(encoding, (list, MultiValue)) else encoding
        undefined = elem.is_undefined_length
        key = (int(elem.tag), elem.VR, type(value), value, undefined, charset, implicit)
        known = _WRITTEN.get(key)
        if known is not None:
            return known
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_data_element(fp, elem, encoding)  # type: ignore[arg-type]
    data = bytes(fp.getvalue())
    if key is not None:
        if len(_WRITTEN) >= _WRITTEN_LIMIT:
            _WRITTEN.clear()
        _WRITTEN[key] = data
    return data


def _as_read(ds: Dataset, implicit: bool) -> bool:
    """Read in the output's encoding and character set: stored values are still valid."""
    return ds.original_encoding == (implicit, True) and (
        ds.original_character_set == ds._character_set
    )


def _made_here(ds: Dataset) -> bool:
    """Built in memory (an item the anonymiser added, say) from decoded elements whose VR
    needs no resolving: pydicom's own writer would write each element just the same."""
    if ds.original_encoding != (None, None) or "SpecificCharacterSet" in ds:
        return False
    return all(
        not isinstance(elem, RawDataElement) and elem.VR is not None and len(elem.VR) == 2
        for elem in (ds.get_item(tag) for tag in ds.keys())  # noqa: SIM118
    )


def _meta_bytes(meta: Dataset) -> bytes | None:
    """The file meta group (already validated) encoded as pydicom's writer encodes it,
    group length first; ``None`` when an element is not a plain one this can encode."""
    parts = []
    for tag in sorted(meta.keys()):
        if int(tag) == 0x00020000:
            continue
        stored = meta.get_item(tag)
        if isinstance(stored, RawDataElement):  # as read: written as stored, like pydicom
            if stored.VR is None or stored.length == UNDEFINED or stored.is_implicit_VR:
                return None
            parts.append(encode_stored(int(tag), stored.VR, stored.value or b"", implicit=False))
            continue
        elem = meta[tag]
        value = elem.value
        if elem.VR == "OB" and isinstance(value, bytes):
            data = value + b"\x00" * (len(value) % 2)
        elif (
            elem.VR in ("UI", "SH", "AE", "LO", "CS") and isinstance(value, str) and value.isascii()
        ):
            data = encode_text_values(elem.VR, [value] if value else [])
        else:
            return None
        parts.append(element_header(int(tag), elem.VR, len(data), implicit=False) + data)
    body = b"".join(parts)
    length = element_header(0x00020000, "UL", 4, implicit=False) + struct.pack("<I", len(body))
    return length + body
