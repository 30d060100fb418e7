"""How elements are laid out in the little endian transfer syntaxes (PS3.5 section 7).

Shared by the fast writer (``io.fastwrite``) and the anonymiser's encoded-sequence path
(``header.rawseq``), so that both produce exactly the bytes pydicom's writer would.
"""

from __future__ import annotations

import functools
import struct

from pydicom.uid import UID

from dicomscrub.header.dictionary import tag_info

#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT",
                      "UV"})  # fmt: skip
#: VRs padded with NUL rather than a space.
NUL_PADDED = frozenset({"UI", "OB", "OD", "OF", "OL", "OV", "OW", "UN", "SV", "UV"})
UNDEFINED = 0xFFFFFFFF
#: An item of undefined length, its delimiter, and the sequence delimiter.
ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED)
ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def element_header(tag: int, vr: str | None, length: int, implicit: bool) -> bytes:
    """Tag, VR (explicit only) and length of one element."""
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HHI", group, element, length)
    code = (vr or "UN").encode("ascii")
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", group, element, code, 0, length)
    return struct.pack("<HH2sH", group, element, code, length)


def encode_stored(tag: int, vr: str | None, value: bytes, implicit: bool) -> bytes:
    """An element whose stored value is written unchanged, padded to even length as
    pydicom pads it."""
    if len(value) % 2:
        value += b"\x00" if tag_info(tag, vr)[1] in NUL_PADDED else b" "
    return element_header(tag, vr, len(value), implicit) + value


def encode_text_values(vr: str, values: list[str]) -> bytes:
    """ASCII string values as pydicom writes them: joined by backslashes, padded to even
    length (NUL for UI, a space otherwise)."""
    data = "\\".join(values).encode("ascii")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return data


@functools.lru_cache(maxsize=256)
def syntax_uid(text: str) -> UID:
    """``UID(text)`` for a transfer syntax, made (and validated) once per distinct text:
    every file of a run names one of a few."""
    return UID(text)
