"""A faster reader for the common DICOM file, with exactly pydicom's result.

``dcmread`` spends most of a small file's read in its per-element generator (a file read,
a few checks and a tell per element). Here the preamble, the file meta group and the
top level of the data set are parsed from one buffered read of the file's start, each
element becoming the very ``RawDataElement`` pydicom would have made (same tag object
used as its key, VR, length, value or deferred ``None``, value offset), and the
datasets are then built by pydicom's own constructors in the order ``dcmread`` calls
them, so that every attribute and every element decoded on the way is the same.

Only what this module reads the same way is read here: a ``DICM`` preamble, an explicit
VR little endian file meta group, and a top level in little endian, implicit or explicit
VR as the transfer syntax says, with known VRs and no sequence of undefined length.
Anything else (no preamble, a command set, big endian, deflated, a VR switch, an
undefined-length sequence, an unknown VR...) returns ``None`` and the caller reads the
file with ``dcmread``, which is also the one to raise for an unreadable file.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, cast

from pydicom.charset import default_encoding
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.fileutil import read_undefined_length_value
from pydicom.tag import BaseTag, SequenceDelimiterTag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    PrivateTransferSyntaxes,
)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHL")
_LONG_LENGTH = struct.Struct("<L")
_UNDEFINED = 0xFFFFFFFF
_CHARSET = 0x00080005
#: VRs as they are stored (pydicom's reader takes any other code for a VR switch).
_VR_CODES = frozenset(vr.encode(default_encoding) for vr in VR)
_VR_NAMES = {code: code.decode(default_encoding) for code in _VR_CODES}
_LONG_CODES = frozenset(code for code, vr in _VR_NAMES.items() if vr in EXPLICIT_VR_LENGTH_32)
#: First read: the whole header of most files, whose pixel data is deferred anyway.
_FIRST_READ = 16 * 1024
_CHUNK = 64 * 1024


#: Elements by tag, as a Dataset holds them.
_Elements = dict[BaseTag, DataElement | RawDataElement]


class _Unusual(Exception):
    """Something ``dcmread`` must read itself."""


def read_header_fast(path: Path, defer_size: int) -> FileDataset | None:
    """``dcmread(path, force=True, defer_size=defer_size)`` for the common file, or
    ``None`` when this reader does not read it the same way (see the module text)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            return _read(fh, defer_size)
    except Exception:  # whatever it is, dcmread reads (or rejects) the file itself
        return None


class _Source:
    """Bytes of an open file by absolute offset, read in large chunks."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.size = os.fstat(fh.fileno()).st_size
        self.base = 0
        self.buf = fh.read(_FIRST_READ)

    def take(self, pos: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``pos`` (fewer at the end of the file)."""
        start = pos - self.base
        if start >= 0 and start + count <= len(self.buf):
            return self.buf[start : start + count]
        if pos >= self.size:
            return b""
        self.fh.seek(pos)
        self.buf = self.fh.read(max(count, _CHUNK))
        self.base = pos
        return self.buf[:count]


def _read(fh: BinaryIO, defer_size: int) -> FileDataset:
    src = _Source(fh)
    head = src.take(0, 132)
    if len(head) < 132 or head[128:132] != b"DICM":
        raise _Unusual("no preamble")
    meta_elements, pos = _meta_elements(src)
    file_meta = _file_meta(meta_elements)
    if pos >= src.size:
        raise _Unusual("no data set")
    first = src.take(pos, 6)
    if len(first) < 6 or first[:2] == b"\x00\x00":
        raise _Unusual("command set, or a data set too short")
    syntax = file_meta.get("TransferSyntaxUID")  # decoded here, as dcmread does
    if syntax is None:
        raise _Unusual("no transfer syntax")
    if syntax == ImplicitVRLittleEndian:
        implicit = True
    elif syntax == ExplicitVRLittleEndian:
        implicit = False
    elif syntax in (ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian):
        raise _Unusual("big endian or deflated")
    elif syntax in PrivateTransferSyntaxes:
        raise _Unusual("private transfer syntax")
    else:  # every other syntax is explicit VR little endian
        implicit = False
    looks_implicit = not (0x40 < first[4] < 0x5B and 0x40 < first[5] < 0x5B)
    if looks_implicit != implicit:
        raise _Unusual("the data set is not in the encoding its transfer syntax says")
    elements = _data_set_elements(src, pos, implicit, defer_size)

    # What FileDataset and read_partial do with the elements. (read_dataset's own
    # Dataset only lends them its dict; what it decodes, the character set, is decoded
    # here by the same property, in a dataset of the same parent encoding.)
    ds = FileDataset(fh, elements, head[:128], file_meta, implicit, True)
    ds.set_original_encoding(implicit, True, ds._character_set)
    return ds


def _meta_elements(src: _Source) -> tuple[_Elements, int]:
    """The group 0002 elements after the preamble, and where the data set starts."""
    elements: _Elements = {}
    pos = 132
    while True:
        head = src.take(pos, 8)
        if len(head) < 8:
            raise _Unusual("file ends in the file meta group")
        group, element, code, length = _EXPLICIT.unpack(head)
        if group != 0x0002:
            if not elements:
                raise _Unusual("no file meta group")
            return elements, pos
        if not elements and not (0x40 < code[0] < 0x5B and 0x40 < code[1] < 0x5B):
            raise _Unusual("file meta group not in explicit VR")
        if code not in _VR_CODES:
            raise _Unusual("unknown VR")
        vr = code.decode(default_encoding)
        start = pos + 8
        if vr in EXPLICIT_VR_LENGTH_32:
            extra = src.take(start, 4)
            if len(extra) < 4:
                raise _Unusual("truncated element")
            length = _LONG_LENGTH.unpack(extra)[0]
            start += 4
        if length == _UNDEFINED:
            raise _Unusual("undefined length in the file meta group")
        value = src.take(start, length) if length > 0 else _empty(vr)
        tag = BaseTag(group << 16 | element)
        elements[tag] = _raw(tag, vr, length, value, start, False)
        pos = start + length


def _empty(vr: str | None) -> bytes | None:
    """The stored value pydicom gives an element of length 0 (raw, so bytes or None)."""
    return cast(bytes | None, empty_value_for_VR(vr, raw=True))


def _file_meta(elements: _Elements) -> FileMetaDataset:
    """The file meta dataset as ``_read_file_meta_info`` leaves it."""
    file_meta = FileMetaDataset(elements)  # read_dataset's Dataset would lend its dict
    file_meta.set_original_encoding(
        is_implicit_vr=False, is_little_endian=True, character_encoding=default_encoding
    )
    try:  # pydicom's test read of the first element (it decodes it)
        file_meta[next(iter(file_meta.elements())).tag]
    except NotImplementedError as exc:
        raise _Unusual("file meta group in implicit VR") from exc
    if "FileMetaInformationGroupLength" in file_meta:
        _ = file_meta.FileMetaInformationGroupLength  # decoded to be checked, as there
    return file_meta


def _data_set_elements(src: _Source, pos: int, implicit: bool, defer_size: int) -> _Elements:
    """The top-level elements as pydicom's element generator makes them."""
    elements: _Elements = {}
    while True:
        # Element headers and short values straight from the buffer when they lie in it.
        head, at = src.buf, pos - src.base
        if at < 0 or at + 12 > len(head):
            head, at = src.take(pos, 12), 0
            if len(head) < 8:
                return elements  # the end of the file (pydicom ignores a short tail too)
        vr: str | None
        if implicit:
            group, element, length = _IMPLICIT.unpack_from(head, at)
            vr = None
            start = pos + 8
        else:
            group, element, code, length = _EXPLICIT.unpack_from(head, at)
            vr = _VR_NAMES.get(code)
            if vr is None:
                raise _Unusual("unknown VR or a switch to implicit VR")
            start = pos + 8
            if code in _LONG_CODES:
                if len(head) < at + 12:
                    raise _Unusual("truncated element")
                length = _LONG_LENGTH.unpack_from(head, at + 8)[0]
                start += 4
        number = group << 16 | element
        if number == 0xFFFEE00D:
            raise _Unusual("item delimiter at the top level")
        if length == _UNDEFINED:
            if vr is None or vr in ("SQ", "UN"):
                raise _Unusual("sequence of undefined length")
            # Encapsulated pixel data: found (and deferred) by pydicom's own function.
            src.fh.seek(start)
            value = read_undefined_length_value(src.fh, True, SequenceDelimiterTag, defer_size)
            end = src.fh.tell()
        elif length > defer_size and number != _CHARSET:
            value = None  # deferred: read from the file when asked for
            end = start + length
        elif length == 0:
            value = _empty(vr)
            end = start
        else:
            end = start + length
            offset = start - src.base
            if offset >= 0 and end - src.base <= len(src.buf):
                value = src.buf[offset : offset + length]
            else:
                value = src.take(start, length)
        tag = BaseTag(number)
        if _RAW_DEFAULTS is None:
            elements[tag] = RawDataElement(tag, vr, length, value, start, implicit, True)
        else:  # _raw(...), spelled out: this loop runs for every element of every file
            fields = (tag, vr, length, value, start, implicit, True, *_RAW_DEFAULTS)
            elements[tag] = _new_tuple(RawDataElement, fields)
        pos = end


def _raw(
    tag: BaseTag, vr: str | None, length: int, value: bytes | None, start: int, implicit: bool
) -> RawDataElement:
    """``RawDataElement(tag, vr, length, value, start, implicit, True)``, made without
    the named tuple's own constructor (the same tuple, with the same defaults)."""
    if _RAW_DEFAULTS is None:
        return RawDataElement(tag, vr, length, value, start, implicit, True)
    return _new_tuple(RawDataElement, (tag, vr, length, value, start, implicit, True,
                                       *_RAW_DEFAULTS))  # fmt: skip


_new_tuple = tuple.__new__
_RAW_FIELDS = ("tag", "VR", "length", "value", "value_tell", "is_implicit_VR", "is_little_endian")
#: The defaulted fields after those (``None``: a pydicom whose tuple is laid out otherwise).
_RAW_DEFAULTS = (
    tuple(RawDataElement._field_defaults[name] for name in RawDataElement._fields[7:])
    if RawDataElement._fields[:7] == _RAW_FIELDS
    and set(RawDataElement._fields[7:]) <= set(RawDataElement._field_defaults)
    else None
)
