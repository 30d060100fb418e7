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

from pydicom import config
from pydicom._version import __version_info__
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
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ImplicitVRLittleEndian

from dicomscrub.header.dictionary import text_value
from dicomscrub.header.encoding import (
    ITEM,
    ITEM_END,
    SEQ_END,
    UNDEFINED,
    element_header,
    encode_stored,
    encode_text_values,
    syntax_uid,
)


class Unsupported(Exception):
    """The dataset needs pydicom's general writer (big endian, deflated, bad file meta)."""


def save_fast(ds: Dataset, path: Path) -> None:
    """Write ``ds`` with preamble and file meta; raise :class:`Unsupported` when the
    general writer is needed instead (nothing usable is left at ``path`` then)."""
    meta, implicit, encoded_meta = _prepared(ds)
    with path.open("wb") as raw:
        _write(raw, ds, meta, implicit, encoded_meta)


def write_fast(ds: Dataset, fh: BinaryIO) -> None:
    """:func:`save_fast` into a file opened for writing (and left open, positioned after
    the data set); :class:`Unsupported` is raised before anything is written."""
    meta, implicit, encoded_meta = _prepared(ds)
    _write(fh, ds, meta, implicit, encoded_meta)


def _prepared(ds: Dataset) -> tuple[FileMetaDataset, bool, bytes | None]:
    """The file meta made to describe ``ds``, whether it is written implicit VR, and the
    encoded file meta group when it was made without changing the file meta."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        raise Unsupported("no file meta")
    syntax = syntax_uid(str(meta.get("TransferSyntaxUID", "") or ""))
    if not syntax or not syntax.is_little_endian or syntax.is_deflated:
        raise Unsupported("only plain little endian syntaxes")
    encoded_meta = usual_meta_bytes(ds, meta)
    if encoded_meta is None:
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
    return meta, syntax == ImplicitVRLittleEndian, encoded_meta


def _write(
    raw: BinaryIO,
    ds: Dataset,
    meta: FileMetaDataset,
    implicit: bool,
    encoded_meta: bytes | None = None,
) -> None:
    fp = DicomFileLike(raw)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    fp.write(b"\x00" * 128 + b"DICM")
    if encoded_meta is None:
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


#: The file meta elements the anonymiser keeps (group length, version, SOP class and
#: instance, transfer syntax, implementation class and version).
_USUAL_META = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010,
                         0x00020012, 0x00020013})  # fmt: skip
_META_TEXT_VRS = frozenset({"UI", "SH", "AE", "LO", "CS"})


def usual_meta_bytes(ds: Dataset, meta: Dataset) -> bytes | None:
    """The file meta group exactly as setting its SOP class and instance UIDs from ``ds``,
    ``validate_file_meta`` and :func:`_meta_bytes` would make it, worked out without
    those pydicom calls (which decode and validate every element) and without changing
    ``meta``: for the usual group, holding only the elements the anonymiser keeps with
    plain values; ``None`` for any other, which takes that long way instead."""
    if config.RAISE in (
        config.settings.reading_validation_mode,
        config.settings.writing_validation_mode,
    ):
        return None  # pydicom's setters could raise on a value: let them
    elements = {int(tag): elem for tag, elem in meta.items()}
    if not elements.keys() <= _USUAL_META or 0x00080016 not in ds:
        return None
    sop_class, instance = text_value(ds, 0x00080016), text_value(ds, 0x00080018)
    if not sop_class or not instance:
        return None  # validate_file_meta would find them empty
    final: list[tuple[int, str, object]] = []  # (tag, VR, decoded value) in tag order

    version = elements.get(0x00020001)  # validate_file_meta decodes it, or sets it
    if version is None:
        final.append((0x00020001, "OB", b"\x00\x01"))
    elif version.VR != "OB" or (isinstance(version, RawDataElement) and version.value is None):
        return None
    else:
        value = version.value
        if not isinstance(value, bytes):
            return None
        final.append((0x00020001, "OB", value or b"\x00\x01"))
    for tag, uid in ((0x00020002, sop_class), (0x00020003, instance)):  # set from ds
        elem = elements.get(tag)
        if elem is not None and elem.VR != "UI":
            return None
        final.append((tag, "UI", uid))
    syntax = elements.get(0x00020010)  # decoded when the transfer syntax was read
    if not isinstance(syntax, DataElement) or syntax.VR != "UI" or not syntax.value:
        return None
    final.append((0x00020010, "UI", syntax.value))
    implementation = elements.get(0x00020012)
    if implementation is None:
        final.append((0x00020012, "UI", PYDICOM_IMPLEMENTATION_UID))
    elif implementation.VR != "UI":
        return None
    else:
        value = meta[0x00020012].value  # decoded, as validate_file_meta decodes it
        final.append((0x00020012, "UI", value or PYDICOM_IMPLEMENTATION_UID))
    name = elements.get(0x00020013)
    if name is None:
        final.append((0x00020013, "SH", f"PYDICOM {'.'.join(__version_info__)}"))
    elif isinstance(name, RawDataElement):  # validate_file_meta leaves it as stored
        if name.VR is None or name.length == UNDEFINED or name.is_implicit_VR:
            return None
        final.append((0x00020013, "", encode_stored(0x00020013, name.VR, name.value or b"", False)))
    else:
        final.append((0x00020013, name.VR, name.value))

    parts = []
    for tag, vr, value in final:
        if not vr and isinstance(value, bytes):
            parts.append(value)  # written as stored
        elif vr == "OB" and isinstance(value, bytes):
            data = value + b"\x00" * (len(value) % 2)
            parts.append(element_header(tag, vr, len(data), implicit=False) + data)
        elif vr in _META_TEXT_VRS and isinstance(value, str) and value.isascii():
            data = encode_text_values(vr, [value] if value else [])
            parts.append(element_header(tag, vr, len(data), implicit=False) + data)
        else:
            return None
    body = b"".join(parts)
    length = element_header(0x00020000, "UL", 4, implicit=False) + struct.pack("<I", len(body))
    return length + body


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
