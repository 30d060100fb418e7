"""Keyword and VR of an element from its tag, without decoding its value.

pydicom decodes an element's value the first time the element is accessed; deciding
what to do from the tag and the raw VR first lets kept and removed elements pass through
undecoded, which is most of the cost of a header.
"""

from __future__ import annotations

import functools

from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset


@functools.lru_cache(maxsize=16384)
def tag_info(tag: int, raw_vr: str | None) -> tuple[str, str]:
    """``(keyword, VR)``: the dictionary's VR for a known tag (the stored one where the
    dictionary allows several, its first choice when the file does not say); the stored
    VR, or UN, for an unknown or private tag."""
    known = dictionary_has_tag(tag)
    keyword = keyword_for_tag(tag) if known else ""
    vr = raw_vr or "UN"
    if known:
        listed = dictionary_VR(tag)
        # The dictionary decides for a known tag, so that free text stored under a wrong
        # VR (OB, say) is still treated as text; where it allows several VRs, the file's.
        if " or " not in listed:
            vr = listed
        elif vr == "UN":
            vr = listed.split(" or ")[0]
    return keyword, vr


def raw_info(ds: Dataset, tag: int) -> tuple[str, str]:
    """:func:`tag_info` of an element of ``ds`` (deferred values stay on disk)."""
    raw = ds.get_item(tag, keep_deferred=True)
    return tag_info(tag, getattr(raw, "VR", None))


def peek(ds: Dataset, tag: int) -> DataElement:
    """The element at ``tag`` decoded for reading, leaving ``ds`` holding its stored
    bytes, so an element that is only looked at is still written back byte for byte.
    Sequences are decoded in place (their items must belong to ``ds``)."""
    elem = ds.get_item(tag)
    if not isinstance(elem, RawDataElement) or tag_info(tag, elem.VR)[1] == "SQ":
        return ds[tag]
    charset = ds.original_character_set or ds._character_set
    if tag == 0x00080005:
        charset = default_encoding
    return convert_raw_data_element(elem, encoding=charset, ds=ds)


#: String VRs whose single plain-ASCII value pydicom reads the same in every character set.
_PLAIN_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "PN", "SH", "TM", "UI"})


def stored_text(ds: Dataset, tag: int) -> str | None:
    """The value of a still-encoded, single-valued, plain-ASCII string element as pydicom
    would read it (trailing padding removed), without decoding or storing anything;
    ``None`` when the element is absent, decoded already, multi-valued or not plain."""
    raw = ds.get_item(tag, keep_deferred=True)
    if not isinstance(raw, RawDataElement) or not isinstance(raw.value, bytes):
        return None
    return plain_text(tag, raw.VR, raw.value)


#: Single-valued text VRs (a backslash is text in them) that pydicom reads as one string,
#: trailing padding removed; plain ASCII reads the same in every character set.
_SINGLE_TEXT_VRS = frozenset({"ST", "LT", "UT"})


def plain_text(tag: int, stored_vr: str | None, value: bytes) -> str | None:
    """:func:`stored_text` of an element given by its tag, stored VR and value bytes."""
    vr = tag_info(tag, stored_vr)[1]
    if vr in _SINGLE_TEXT_VRS and stored_vr in (None, vr):
        if not value.isascii() or b"\x1b" in value:
            return None
        return value.decode("ascii").rstrip("\x00 ")
    if vr not in _PLAIN_STRING_VRS:
        return None
    if stored_vr is not None and stored_vr not in _PLAIN_STRING_VRS:
        return None
    if b"\\" in value or not value.isascii() or b"\x1b" in value:
        return None
    return value.decode("ascii").rstrip("\x00 ")


def text_value(ds: Dataset, tag: int) -> str:
    """``str(ds.get(tag) or "").strip()``, without leaving the element decoded in ``ds``."""
    if tag not in ds:
        return ""
    text = stored_text(ds, tag)
    if text is None:
        text = str(peek(ds, tag).value or "")
    return text.strip()
