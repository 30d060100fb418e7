"""The identifying values of a file's own header.

Used twice: as the ``phi`` block of the private sidecar (the data owner's crosswalk), and
as the terms the pixel step looks for in burned-in text. Values are collected before the
header is de-identified and never logged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from dicomscrub.header.dictionary import peek, plain_text, tag_info
from dicomscrub.header.private import is_creator_tag, is_private_group
from dicomscrub.header.rawseq import (
    EncodedElement,
    NotEncodable,
    encoded_sequence,
    iter_values,
    parsed_sequence,
    raw_element,
    stored_implicit,
)
from dicomscrub.models import PIXEL_DATA_TAGS

#: Top-level keywords copied into the sidecar's ``phi`` block when present.
SIDECAR_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "OtherPatientIDs", "OtherPatientNames", "PatientAddress", "PatientTelephoneNumbers",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime",
    "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "StationName",
    "DeviceSerialNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
)  # fmt: skip

_SIDECAR_TAGS = tuple((k, int(tag_for_keyword(k) or 0)) for k in SIDECAR_KEYWORDS)

#: Keywords (at any depth) whose values are identifying and may be burned into pixels.
TERM_KEYWORDS = frozenset(
    {
        "PatientID", "OtherPatientIDs", "IssuerOfPatientID", "PatientAddress",
        "PatientTelephoneNumbers", "PatientBirthDate", "AccessionNumber", "StudyID",
        "RequestedProcedureID", "ScheduledProcedureStepID", "PerformedProcedureStepID",
        "AdmissionID", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
        "StationName", "DeviceSerialNumber", "MedicalRecordLocator",
        "MilitaryRank", "BranchOfService", "RegionOfResidence", "CountryOfResidence",
        "EthnicGroup", "Occupation", "PatientReligiousPreference", "ResponsibleOrganization",
        "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "OtherPatientNames",
        "PatientBirthName", "PatientMotherBirthName",
    }
)  # fmt: skip

_DATE_KEYWORD_SUFFIXES = ("Date", "DateTime")


def sidecar_phi(ds: Dataset) -> dict[str, str]:
    """Original values of the identifying top-level elements, as strings."""
    out: dict[str, str] = {}
    # The dataset's own tags and elements (reading one changes no other).
    elements = {int(key): (key, elem) for key, elem in ds.items()}
    for keyword, tag in _SIDECAR_TAGS:
        found = elements.get(tag)
        if found is None:
            continue
        key, raw = found
        try:
            text = None  # stored_text(ds, tag), from the element in hand
            if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
                text = plain_text(tag, raw.VR, raw.value)
            text = _text(peek(ds, key).value) if text is None else text.strip()
        except Exception:
            continue
        if text:
            out[keyword] = text
    return out


#: Whether the anonymiser will remove the top-level private element at a tag.
RemovedPrivate = Callable[[Dataset, int], bool]


def header_terms(
    ds: Dataset, removed: RemovedPrivate | None = None
) -> tuple[list[str], list[str], list[str]]:
    """``(names, identifiers, dates)``: identifying strings from every sequence depth.

    ``names`` holds every person-name value (PN VR), ``identifiers`` the values of
    identifying keywords, ``dates`` every DA/DT value (``YYYYMMDD`` prefix).

    A top-level private sequence is read from its bytes and the parse kept in ``ds`` for
    the anonymiser, which makes pydicom decode the whole sequence (it decodes a private
    element when it is set); one that ``removed`` says the anonymiser will remove is
    parsed and left as it was, for nothing it becomes is ever written.
    """
    names: list[str] = []
    ids: list[str] = []
    dates: list[str] = []
    for keyword, vr, text in _walk_text(ds, removed):
        if vr == "PN":
            names.append(text)
        elif vr in ("DA", "DT") or keyword.endswith(_DATE_KEYWORD_SUFFIXES):
            dates.append(text[:8])
        elif keyword in TERM_KEYWORDS:
            ids.append(text)
    return names, ids, dates


_TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "DA", "DT", "CS", "AE", "UC"})


@functools.lru_cache(maxsize=8192)
def _wanted(tag: int, raw_vr: str | None) -> bool:
    """True when the element can hold an identifying term (or is a sequence), decided
    from the tag and VR alone so that no other value is ever decoded."""
    keyword, vr = tag_info(tag, raw_vr)
    if vr == "SQ":
        return True
    if vr not in _TEXT_VRS:
        return False
    return (
        vr in ("PN", "DA", "DT")
        or keyword in TERM_KEYWORDS
        or keyword.endswith(_DATE_KEYWORD_SUFFIXES)
    )


def _walk_text(
    ds: Dataset, removed: RemovedPrivate | None = None
) -> Iterator[tuple[str, str, str]]:
    # Reading an element changes no other: the list stays what the dataset holds.
    elements: list[tuple[BaseTag, DataElement | RawDataElement]] = list(ds.items())
    for tag, raw in elements:
        value_tag = int(tag)
        if value_tag in PIXEL_DATA_TAGS or (value_tag >> 16) & 0xFF01 == 0x6000:
            continue
        if not _wanted(value_tag, getattr(raw, "VR", None)):
            continue
        keyword, vr = tag_info(value_tag, getattr(raw, "VR", None))
        if isinstance(raw, RawDataElement) and vr == "SQ":
            encoded = _encoded_text(ds, value_tag, removed)
            if encoded is not None:
                yield from encoded
                continue
        if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
            stored = _stored_texts(value_tag, keyword, vr, raw.VR, raw.value)
            if stored is not None:
                yield from stored
                continue
        try:
            # Only looked at: the element stays as stored, for the anonymiser to change
            # on its bytes or decode itself. Sequences are decoded in place (their items
            # must belong to the data set).
            elem = ds[tag] if vr == "SQ" else peek(ds, value_tag)
        except Exception:
            continue
        if elem.VR == "SQ":
            for item in elem.value or ():
                yield from _walk_text(item)
            continue
        yield from _element_texts(elem)


def _stored_texts(
    tag: int, keyword: str, vr: str, stored_vr: str | None, stored: bytes
) -> list[tuple[str, str, str]] | None:
    """The texts of an element read straight from its stored bytes (dates, plain ASCII
    strings, as pydicom would read them); ``None`` when it must be decoded instead."""
    if vr in ("DA", "DT") and stored_vr in (vr, None):
        return list(_date_texts(keyword, vr, stored))
    plain = plain_text(tag, stored_vr, stored)
    if plain is None:
        return None
    return [(keyword, vr, plain.strip())] if plain.strip() else []


def _element_texts(elem: DataElement) -> Iterator[tuple[str, str, str]]:
    """The texts of a decoded element (none for a VR that holds no text)."""
    if elem.VR not in _TEXT_VRS:
        return
    try:
        values = elem.value if elem.VM > 1 else [elem.value]
    except Exception:
        return
    for value in values:
        text = _text(value)
        if text:
            yield elem.keyword, elem.VR, text


def _encoded_text(
    ds: Dataset, tag: int, removed: RemovedPrivate | None = None
) -> list[tuple[str, str, str]] | None:
    """The terms of a sequence still as stored, read from its bytes so that it stays
    encoded for the anonymiser (see ``header.rawseq``); ``None`` when it cannot be."""
    implicit = stored_implicit(ds)
    if implicit is None:
        return None
    found = _removed_private_text(ds, tag, implicit, removed)
    if found is not None:
        return found
    try:
        parsed = parsed_sequence(ds, tag, implicit)
    except (NotEncodable, OSError):
        return None
    if parsed is None:
        return None
    buf, items = parsed
    try:
        wanted = list(iter_values(buf, items, _wanted))
    except NotEncodable:
        return None  # read as objects instead, each item with its own character set
    return _texts_of(ds, buf, wanted, implicit)


def _removed_private_text(
    ds: Dataset, tag: int, implicit: bool, removed: RemovedPrivate | None
) -> list[tuple[str, str, str]] | None:
    """:func:`_encoded_text` of a private sequence the anonymiser will remove, parsed
    without keeping the parse in ``ds``; ``None`` to take the usual way (a sequence
    not in memory, or one whose items must be read as objects: that way keeps the
    parse and reads them)."""
    if removed is None or not is_private_group(tag) or is_creator_tag(tag):
        return None
    stored = ds.get_item(tag, keep_deferred=True)
    if not isinstance(stored, RawDataElement) or not isinstance(stored.value, bytes):
        return None
    if not removed(ds, tag):
        return None
    try:
        buf, items = encoded_sequence(stored, implicit)
        wanted = list(iter_values(buf, items, _wanted))
    except NotEncodable:
        return None
    return _texts_of(ds, buf, wanted, implicit)


def _texts_of(
    ds: Dataset, buf: bytes, wanted: list[tuple[EncodedElement, int]], implicit: bool
) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for element, _ in wanted:
        keyword, vr = tag_info(element.tag, element.vr)
        value = buf[element.start : element.end]
        stored = _stored_texts(element.tag, keyword, vr, element.vr, value)
        if stored is not None:
            found.extend(stored)
            continue
        holder = Dataset(parent_encoding=ds._character_set)
        holder[element.tag] = raw_element(buf, element, implicit)
        try:
            elem = holder[element.tag]
        except Exception:
            continue
        found.extend(_element_texts(elem))
    return found


def _date_texts(keyword: str, vr: str, stored: bytes) -> Iterator[tuple[str, str, str]]:
    """The values of a stored DA or DT element, read as pydicom reads them (latin-1)."""
    text = stored.decode("latin-1").rstrip("\x00 ")
    for value in text.split("\\"):
        if value.strip():
            yield keyword, vr, value.strip()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(_text(v) for v in value)
    if isinstance(value, bytes):
        return ""
    return str(value).strip()
