"""Test data factories: DICOM datasets with planted, recognisable would-be PHI.

:func:`canary_dataset` builds one CT image in memory and plants a unique *canary* value in
every element that can hold text: each row of PS3.15 Table E.1-1 whose tag is exact (and
whose VR can hold a canary), a handful of identifying standard elements the table does not
list, sequences nested up to eight items deep, private blocks, overlay and curve groups,
the file meta information and the preamble. Each canary is recorded with the path where
it was planted and the Table E.1-1 rows that govern it, so a test can say exactly which
canary survived de-identification and whether a profile option allowed it to.

Canary values are recognisable and unique:

* text VRs (AE CS LO LT PN SH ST UC UR UT) and binary values (OB UN) hold
  ``<TAG><nnnn>X``, e.g. ``CNRY0042X``; all have the same width, so none is a substring
  of another;
* VRs with a fixed format hold a value of that format that no other canary contains:
  DA ``1931MMDD`` (all within 300 days, so a date shift of a year or more never turns one
  into another), DT ``1947MMDD121530.99nnnn``, TM ``1304SS.88nnnn``, DS ``8642nnnn.5``,
  IS ``7531nnnn``, AS ``9nnD``, UI ``1.2.826.0.1.3680043.8.498.99nnnnnn``.

:func:`descriptor_phi_dataset` builds a dataset whose descriptors hold the patient's own
identifiers written as free text, for the Clean Descriptors checks.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydicom.datadict import (
    dictionary_has_tag,
    dictionary_VM,
    dictionary_VR,
    keyword_for_tag,
    tag_for_keyword,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

#: VRs whose canary is ``<TAG><nnnn>X`` (found as raw bytes anywhere in a file).
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: VRs with a fixed format; their canaries are digits (found in parsed element values).
FORMATTED_VRS = frozenset({"AS", "DA", "DS", "DT", "IS", "TM"})
#: Binary VRs that get a text canary inside their bytes.
BINARY_VRS = frozenset({"OB", "UN"})
CANARY_VRS = TEXT_VRS | FORMATTED_VRS | BINARY_VRS | {"UI"}

#: Root of canary UIDs (pydicom's root; the ``99`` arc marks them as canaries).
CANARY_UID_ROOT = "1.2.826.0.1.3680043.8.498.99"

#: Options that apply to a whole VR class, used for elements no table row governs.
VR_WIDE_OPTIONS: Mapping[str, frozenset[str]] = {
    "retain_uids": frozenset({"UI"}),
    "retain_long_full_dates": frozenset({"DA", "DT", "TM"}),
    "retain_long_modified_dates": frozenset({"TM"}),
}

PRIVATE_CREATOR = "ACME CANARY"
CODING_SCHEME = "99LOCAL"


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Row:
    """One row of Table E.1-1 as committed in ``profile_table.json``."""

    tag: str
    name: str
    basic: str
    options: tuple[tuple[str, str], ...]

    def action(self, option: str) -> str | None:
        """The row's action code under ``option`` (``None`` when the option says nothing)."""
        return dict(self.options).get(option)


@dataclass(frozen=True, slots=True)
class Table:
    """Exact rows by tag, plus the masked rows (``60xx``, ``50xx``, private)."""

    exact: Mapping[int, Row]
    masked: tuple[tuple[int, int, Row], ...]

    def lookup(self, tag: int) -> Row | None:
        row = self.exact.get(tag)
        if row is not None:
            return row
        for value, mask, candidate in self.masked:
            if tag & mask == value:
                return candidate
        return None


@functools.cache
def profile_table() -> Table:
    """The committed Table E.1-1 (read directly, independent of the header package code)."""
    text = (
        resources.files("dicomscrub.header")
        .joinpath("data/profile_table.json")
        .read_text(encoding="utf-8")
    )
    exact: dict[int, Row] = {}
    masked: list[tuple[int, int, Row]] = []
    for raw in json.loads(text)["rows"]:
        row = Row(raw["tag"], raw["name"], raw["basic"], tuple(sorted(raw["options"].items())))
        if int(raw["mask"]) == 0xFFFFFFFF:
            exact[int(raw["value"])] = row
        else:
            masked.append((int(raw["value"]), int(raw["mask"]), row))
    return Table(exact, tuple(masked))


# --------------------------------------------------------------------------- canaries


@dataclass(frozen=True, slots=True)
class Canary:
    """One planted value and everything needed to judge whether it may survive.

    ``path`` names the element, e.g. ``RequestAttributesSequence[0].PersonName``; a second
    value of a multi-valued element is ``OtherPatientNames#2``. ``depth`` is the number of
    sequence items around the element. ``row`` is the Table E.1-1 row that governs the
    element itself (``None`` when the table does not list it) and ``ancestors`` the rows
    of the enclosing sequences, outermost first. ``private`` is true when the element or
    an enclosing sequence is private. ``location`` is ``dataset``, ``file_meta`` or
    ``preamble``.
    """

    value: str
    path: str
    tag: int
    vr: str
    depth: int
    row: Row | None
    ancestors: tuple[Row | None, ...]
    private: bool
    location: str = "dataset"

    @property
    def formatted(self) -> bool:
        """True for digit-only canaries (DA DT TM DS IS AS): look for them in parsed values,
        not in raw bytes, where a remapped UID's digits could contain them by chance."""
        return self.vr in FORMATTED_VRS

    def may_remain(self, options: Iterable[str]) -> bool:
        """Whether the profile with ``options`` allows this canary to survive unchanged.

        * File meta, preamble and private canaries never may (the file meta is rebuilt, the
          ``ACME CANARY`` creator is on no safe-private list, so Retain Safe Private Option
          keeps none of it).
        * An element listed in the table may when its row says ``K`` for an option, or
          ``C`` ("cleaned": a canary is nobody's PHI, so cleaning may keep it), except
          that ``C`` on a DA or DT means "shifted", so the planted date must be gone.
        * An element the table does not list may when an enclosing sequence's row says
          ``K`` or ``C`` for an option (e.g. a TextValue inside a ContentSequence under
          Clean Structured Content), or when the option covers its whole VR class
          (Retain UIDs for UI, Retain Full Dates for DA DT TM, Modified Dates for TM).
        """
        chosen = frozenset(options)
        if self.location != "dataset" or self.private:
            return False
        if self.row is not None:
            return any(_keeps(self.row.action(o), self.vr) for o in chosen)
        for ancestor in self.ancestors:
            if ancestor is not None and any(_keeps(ancestor.action(o), "SQ") for o in chosen):
                return True
        return any(self.vr in VR_WIDE_OPTIONS.get(o, frozenset()) for o in chosen)

    def describe(self) -> str:
        where = "" if self.location == "dataset" else f"{self.location}: "
        return f"depth {self.depth}: {where}{self.path} [{self.vr}] = {self.value}"


def _keeps(code: str | None, vr: str) -> bool:
    return code == "K" or (code == "C" and vr not in ("DA", "DT"))


class CanaryDataset(NamedTuple):
    """The dataset and its canaries, keyed by canary value."""

    dataset: Dataset
    canaries: dict[str, Canary]

    @property
    def paths(self) -> dict[str, str]:
        """Canary value -> where it was planted."""
        return {value: c.path for value, c in self.canaries.items()}


@dataclass(frozen=True, slots=True)
class _Where:
    """Where elements are being planted: a path prefix and the enclosing sequences' rows."""

    path: str = ""
    ancestors: tuple[Row | None, ...] = ()
    private: bool = False

    def inside(self, name: str, index: int, row: Row | None, private: bool) -> _Where:
        return _Where(
            f"{self.path}{name}[{index}].", (*self.ancestors, row), self.private or private
        )


@dataclass
class _Planter:
    """Hands out unique canary values and records where each one went."""

    tag: str
    table: Table = field(default_factory=profile_table)
    canaries: dict[str, Canary] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)

    def _next(self, kind: str) -> int:
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return n

    def text(self) -> str:
        n = self._next("text")
        if n > 9999:
            raise ValueError("more than 9999 text canaries")
        return f"{self.tag}{n:04d}X"

    def new_value(self, vr: str) -> tuple[str | bytes, str]:
        """``(element value, canary string)`` for one new canary of ``vr``."""
        if vr in ("AE", "CS", "LO", "PN", "SH", "UC"):
            c = self.text()
            return c, c
        if vr in ("LT", "ST", "UT"):
            c = self.text()
            return f"Free text note: {c} end of note.", c
        if vr == "UR":
            c = self.text()
            return f"https://example.invalid/{c}", c
        if vr in BINARY_VRS:
            c = self.text()
            return f" {c} ".encode("ascii"), c
        n = self._next(vr)
        if vr == "UI":
            c = f"{CANARY_UID_ROOT}{n:06d}"
        elif vr == "DA":
            if n >= 300:  # keep all dates within 300 days: see the module docstring
                raise ValueError("more than 299 DA canaries")
            c = (dt.date(1931, 1, 1) + dt.timedelta(days=n)).strftime("%Y%m%d")
        elif vr == "DT":
            day = (dt.date(1947, 1, 1) + dt.timedelta(days=n)).strftime("%Y%m%d")
            c = f"{day}121530.99{n:04d}"
        elif vr == "TM":
            c = f"1304{n % 60:02d}.88{n:04d}"
        elif vr == "DS":
            c = f"8642{n:04d}.5"
        elif vr == "IS":
            c = f"7531{n:04d}"
        elif vr == "AS":
            if n > 99:
                raise ValueError("more than 99 AS canaries")
            c = f"{900 + n:03d}D"
        else:
            raise ValueError(f"no canary for VR {vr}")
        return c, c

    def row_for(self, tag: int) -> Row | None:
        row = self.table.lookup(tag)
        if row is None and (tag >> 16) & 0xFF01 == 0x6000:
            # Overlay attributes the table does not list go with their overlay's data.
            row = self.table.lookup((tag & 0xFFFF0000) | 0x3000)
        return row

    def plant(
        self,
        ds: Dataset,
        tag: int | str,
        where: _Where,
        *,
        vr: str | None = None,
        values: int | None = None,
        location: str = "dataset",
    ) -> None:
        """Add element ``tag`` to ``ds`` holding ``values`` new canaries (default: two for a
        multi-valued text element, else one), padded with filler up to the minimum VM."""
        number = _tag(tag)
        vr = vr or dictionary_VR(number)
        vm = dictionary_VM(number) if dictionary_has_tag(number) else "1"
        if values is None:
            values = 2 if vm.endswith("n") and vr not in BINARY_VRS else 1
        name = element_name(number)
        private = bool(number >> 16 & 1)
        out: list[str | bytes] = []
        for i in range(values):
            value, canary = self.new_value(vr)
            out.append(value)
            self._record(
                Canary(
                    value=canary,
                    path=where.path + (name if values == 1 else f"{name}#{i + 1}"),
                    tag=number,
                    vr=vr,
                    depth=len(where.ancestors),
                    row=self.row_for(number),
                    ancestors=where.ancestors,
                    private=where.private or private,
                    location=location,
                )
            )
        minimum = int(vm.split("-")[0]) if vm[0].isdigit() else 1
        out.extend([{"DS": "0", "IS": "0"}.get(vr, "FILL")] * (minimum - len(out)))
        ds.add_new(number, vr, out[0] if len(out) == 1 else out)

    def _record(self, canary: Canary) -> None:
        if canary.value in self.canaries:
            raise ValueError(f"canary {canary.value} planted twice")
        self.canaries[canary.value] = canary

    def sequence(
        self, ds: Dataset, tag: int | str, where: _Where, items: int = 1
    ) -> list[tuple[Dataset, _Where]]:
        """Add sequence ``tag`` with ``items`` empty items; return each item and its place."""
        number = _tag(tag)
        row = self.row_for(number)
        private = bool(number >> 16 & 1)
        made = [Dataset() for _ in range(items)]
        ds.add_new(number, "SQ", Sequence(made))
        name = element_name(number)
        return [(item, where.inside(name, i, row, private)) for i, item in enumerate(made)]

    def private_block(self, ds: Dataset, group: int, where: _Where) -> _PrivateBlock:
        block = ds.private_block(group, PRIVATE_CREATOR, create=True)
        return _PrivateBlock(self, ds, block.block_start, where)


@dataclass(frozen=True, slots=True)
class _PrivateBlock:
    planter: _Planter
    ds: Dataset
    start: int  # element offset of the block, e.g. 0x1000
    where: _Where

    def tag(self, group: int, offset: int) -> int:
        return (group << 16) | self.start | offset

    def plant(self, group: int, offset: int, vr: str) -> None:
        self.planter.plant(self.ds, self.tag(group, offset), self.where, vr=vr, values=1)

    def sequence(self, group: int, offset: int) -> list[tuple[Dataset, _Where]]:
        return self.planter.sequence(self.ds, self.tag(group, offset), self.where)


def _tag(tag: int | str) -> int:
    if isinstance(tag, int):
        return tag
    number = tag_for_keyword(tag)
    if number is None:
        raise KeyError(tag)
    return int(number)


def element_name(tag: int) -> str:
    """The keyword of a standard element (repeating groups included), else ``(gggg,eeee)``."""
    if not tag >> 16 & 1:
        try:
            keyword = keyword_for_tag(tag)
        except Exception:
            keyword = ""
        if keyword:
            return str(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


# --------------------------------------------------------------------------- builders

_SKIPPED_GROUPS = (0x0000, 0x0002)  # command group: not in files; file meta: built apart
_FILE_META_CANARIES = (
    ("SourceApplicationEntityTitle", "AE"),
    ("SendingApplicationEntityTitle", "AE"),
    ("ReceivingApplicationEntityTitle", "AE"),
    ("SourcePresentationAddress", "UR"),
    ("SendingPresentationAddress", "UR"),
    ("PrivateInformationCreatorUID", "UI"),
    ("PrivateInformation", "OB"),
)
#: Identifying standard elements Table E.1-1 does not list, planted at the top level.
NOT_IN_TABLE = (
    "TextValue",  # UT
    "DocumentTitle",  # ST
    "SecondaryReviewerName",  # PN
    "EvaluatorName",  # PN
    "SecondaryReviewDate",  # DA
    "ExpiryDate",  # DA
    "StudyUpdateDateTime",  # DT
    "MultiFrameSourceSOPInstanceUID",  # UI
    "SOPInstanceUIDOfConcatenationSource",  # UI
)
#: The kept chain: sequences the basic profile keeps (U* or unlisted), nested 8 deep.
KEPT_CHAIN = (
    "SourceImageSequence",
    "ReferencedImageSequence",
    "ReferencedSeriesSequence",
    "ReferencedInstanceSequence",
    "DerivationCodeSequence",
    "PurposeOfReferenceCodeSequence",
    "ReferencedImageSequence",
    "SourceImageSequence",
)
CONTENT_DEPTH = 6


def canary_dataset(tag: str = "CNRY") -> CanaryDataset:
    """A CT image with a unique canary in every element that can hold one.

    ``tag`` (1 to 11 upper-case letters or digits) starts every text canary. The result's
    ``canaries`` map each canary value to its :class:`Canary`; ``paths`` gives just the
    places. The dataset has file meta and a preamble and saves with :func:`write_dataset`.
    """
    if not (tag.isascii() and tag.isalnum() and tag.isupper() and 1 <= len(tag) <= 11):
        raise ValueError("tag must be 1-11 upper-case ASCII letters or digits")
    p = _Planter(tag)
    top = _Where()
    ds = Dataset()
    _image_attributes(ds)

    builders: dict[str, Callable[[_Planter, Dataset, _Where], None]] = {
        "OtherPatientIDsSequence": _other_patient_ids,
        "RequestAttributesSequence": _request_attributes,
        "ReferencedPatientSequence": _referenced_patient,
        "AcquisitionContextSequence": _acquisition_context,
        "ContentSequence": _content_tree,
        "SourceImageSequence": _kept_chain,
        "OriginalAttributesSequence": _original_attributes,
    }
    for number in sorted(p.table.exact):
        if number >> 16 in _SKIPPED_GROUPS or not dictionary_has_tag(number):
            continue
        vr = dictionary_VR(number)
        keyword = keyword_for_tag(number)
        if vr == "SQ":
            builder = builders.get(keyword)
            if builder is not None:
                builder(p, ds, top)
            else:
                _generic_item(p, ds, top, number)
        elif vr in CANARY_VRS:
            p.plant(ds, number, top)
    for keyword in NOT_IN_TABLE:
        if p.table.lookup(_tag(keyword)) is not None:
            raise AssertionError(f"{keyword} is in Table E.1-1 now; move it out of NOT_IN_TABLE")
        p.plant(ds, keyword, top)
    _private_blocks(p, ds, top)
    _overlays_and_curves(p, ds, top)

    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID  # the same canary
    for keyword, vr in _FILE_META_CANARIES:
        p.plant(ds.file_meta, keyword, _Where("file_meta."), vr=vr, values=1, location="file_meta")
    preamble_canary = p.text()
    p._record(Canary(preamble_canary, "preamble", 0, "OB", 0, None, (), False, "preamble"))
    ds.preamble = f"TIFF-or-other dual format header {preamble_canary}".encode().ljust(128, b"\0")
    return CanaryDataset(ds, p.canaries)


def _image_attributes(ds: Dataset, *, pixels: bool = True) -> None:
    """The non-identifying attributes of a small, valid-looking CT image."""
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if pixels:
        # High bytes stay below 0x10, so the pixel bytes never hold a run of ASCII digits.
        ds.PixelData = ((np.arange(64, dtype=np.uint16) * 37) % 4096).tobytes()


def _code_item(p: _Planter, item: Dataset, where: _Where) -> None:
    p.plant(item, "CodeValue", where)
    item.CodingSchemeDesignator = CODING_SCHEME
    p.plant(item, "CodeMeaning", where)


def _generic_item(p: _Planter, ds: Dataset, where: _Where, tag: int | str) -> None:
    """One item: a code (for code sequences) or a reference plus a person's name."""
    ((item, inner),) = p.sequence(ds, tag, where)
    if element_name(_tag(tag)).endswith("CodeSequence"):
        _code_item(p, item, inner)
    else:
        item.ReferencedSOPClassUID = CTImageStorage
        p.plant(item, "ReferencedSOPInstanceUID", inner)
        p.plant(item, "PersonName", inner)


def _other_patient_ids(p: _Planter, ds: Dataset, where: _Where) -> None:
    for item, inner in p.sequence(ds, "OtherPatientIDsSequence", where, items=2):
        p.plant(item, "PatientID", inner)
        p.plant(item, "IssuerOfPatientID", inner)
        item.TypeOfPatientID = "TEXT"


def _request_attributes(p: _Planter, ds: Dataset, where: _Where) -> None:
    ((item, inner),) = p.sequence(ds, "RequestAttributesSequence", where)
    for keyword in (
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "RequestedProcedureDescription",
        "ReasonForTheRequestedProcedure",
        "ScheduledProcedureStepDescription",
        "ScheduledPerformingPhysicianName",
        "AccessionNumber",
    ):
        p.plant(item, keyword, inner)
    ((study, deeper),) = p.sequence(item, "ReferencedStudySequence", inner)
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
    p.plant(study, "ReferencedSOPInstanceUID", deeper)


def _referenced_patient(p: _Planter, ds: Dataset, where: _Where) -> None:
    ((item, inner),) = p.sequence(ds, "ReferencedPatientSequence", where)
    item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"  # Detached Patient Management
    p.plant(item, "ReferencedSOPInstanceUID", inner)


def _acquisition_context(p: _Planter, ds: Dataset, where: _Where) -> None:
    items = p.sequence(ds, "AcquisitionContextSequence", where, items=3)
    for (item, inner), (value_type, keyword) in zip(
        items,
        (("TEXT", "TextValue"), ("DATETIME", "DateTime"), ("PNAME", "PersonName")),
        strict=True,
    ):
        item.ValueType = value_type
        ((code, code_where),) = p.sequence(item, "ConceptNameCodeSequence", inner)
        _code_item(p, code, code_where)
        p.plant(item, keyword, inner)


def _content_tree(p: _Planter, ds: Dataset, where: _Where) -> None:
    """ContentSequence nested ``CONTENT_DEPTH`` deep, each level holding every value type."""
    parent, place = ds, where
    for _level in range(CONTENT_DEPTH):
        leaves = (
            ("TEXT", "TextValue"),
            ("PNAME", "PersonName"),
            ("DATETIME", "DateTime"),
            ("DATE", "Date"),
            ("TIME", "Time"),
            ("UIDREF", "UID"),
        )
        items = p.sequence(parent, "ContentSequence", place, items=len(leaves) + 1)
        for (item, inner), (value_type, keyword) in zip(items, leaves, strict=False):
            item.RelationshipType = "CONTAINS"
            item.ValueType = value_type
            ((code, code_where),) = p.sequence(item, "ConceptNameCodeSequence", inner)
            _code_item(p, code, code_where)
            p.plant(item, keyword, inner)
        container, place = items[-1]
        container.RelationshipType = "CONTAINS"
        container.ValueType = "CONTAINER"
        container.ContinuityOfContent = "SEPARATE"
        ((code, code_where),) = p.sequence(container, "ConceptNameCodeSequence", place)
        _code_item(p, code, code_where)
        parent = container


def _kept_chain(p: _Planter, ds: Dataset, where: _Where) -> None:
    """Sequences the basic profile keeps, nested ``len(KEPT_CHAIN)`` deep; every level holds
    a reference UID, a person's name, a date, a time, unlisted free text and a private
    element, all of which must be acted on at that depth."""
    parent, place = ds, where
    for keyword in KEPT_CHAIN:
        ((item, inner),) = p.sequence(parent, keyword, place)
        item.ReferencedSOPClassUID = CTImageStorage
        for element in (
            "ReferencedSOPInstanceUID",
            "PersonName",
            "InstanceCreationDate",
            "InstanceCreationTime",
            "TextValue",
        ):
            p.plant(item, element, inner)
        p.private_block(item, 0x0009, inner).plant(0x0009, 0x01, "LO")
        parent, place = item, inner


def _original_attributes(p: _Planter, ds: Dataset, where: _Where) -> None:
    ((item, inner),) = p.sequence(ds, "OriginalAttributesSequence", where)
    p.plant(item, "AttributeModificationDateTime", inner)
    p.plant(item, "ModifyingSystem", inner)
    p.plant(item, "SourceOfPreviousValues", inner)
    item.ReasonForTheAttributeModification = "COERCE"
    ((old, deeper),) = p.sequence(item, "ModifiedAttributesSequence", inner)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientNames"):
        p.plant(old, keyword, deeper)


def _private_blocks(p: _Planter, ds: Dataset, where: _Where) -> None:
    """``ACME CANARY`` blocks in groups 0009 (with private sequences two deep), a creator
    that is itself a canary (0011), and an element without a creator (0013)."""
    block = p.private_block(ds, 0x0009, where)
    for offset, vr in ((0x01, "LO"), (0x03, "UN"), (0x04, "DA"), (0x05, "UI"), (0x06, "PN")):
        block.plant(0x0009, offset, vr)
    ((item, inner),) = block.sequence(0x0009, 0x02)
    sub = p.private_block(item, 0x0009, inner)
    sub.plant(0x0009, 0x10, "LO")
    p.plant(item, "PersonName", inner)
    ((deep, deeper),) = sub.sequence(0x0009, 0x11)
    p.private_block(deep, 0x0009, deeper).plant(0x0009, 0x20, "UT")
    p.plant(deep, "PatientID", deeper)

    creator = p.text()
    p._record(Canary(creator, "(0011,0010)", 0x00110010, "LO", 0, p.row_for(0x00110010), (), True))
    ds.private_block(0x0011, creator, create=True)  # reserves (0011,10xx)
    p.plant(ds, 0x00111001, where, vr="ST", values=1)
    p.plant(ds, 0x00131001, where, vr="LO", values=1)


def _overlays_and_curves(p: _Planter, ds: Dataset, where: _Where) -> None:
    """Two overlays (6000, 6002) with their text attributes, and a curve (5000)."""
    for group in (0x6000, 0x6002):
        base = group << 16
        ds.add_new(base | 0x0010, "US", 8)  # Overlay Rows
        ds.add_new(base | 0x0011, "US", 8)  # Overlay Columns
        ds.add_new(base | 0x0040, "CS", "G")  # Overlay Type
        ds.add_new(base | 0x0050, "SS", [1, 1])  # Overlay Origin
        ds.add_new(base | 0x0100, "US", 1)  # Overlay Bits Allocated
        ds.add_new(base | 0x0102, "US", 0)  # Overlay Bit Position
        ds.add_new(base | 0x3000, "OW", b"\x55" * 8)  # Overlay Data: 64 bits
        for element, vr in ((0x0022, "LO"), (0x1500, "LO"), (0x4000, "LT")):
            p.plant(ds, base | element, where, vr=vr, values=1)
    curve = 0x5000 << 16
    ds.add_new(curve | 0x0005, "US", 1)  # Curve Dimensions
    ds.add_new(curve | 0x0010, "US", 2)  # Number of Points
    ds.add_new(curve | 0x0020, "CS", "TAC")  # Type of Data
    for element, vr in ((0x0022, "LO"), (0x2500, "LO"), (0x0030, "SH"), (0x3000, "OB")):
        p.plant(ds, curve | element, where, vr=vr, values=1)


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Save ``ds`` as a DICOM Part 10 file at ``path`` (preamble and file meta included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- descriptors


@dataclass(frozen=True, slots=True)
class DescriptorCase:
    """A dataset whose descriptors repeat the patient's identifiers as free text.

    ``phi`` maps a label to a string that must not appear in the output (compare ignoring
    case); ``clinical`` lists the clinical words mixed in, which may remain.
    """

    dataset: Dataset
    phi: dict[str, str]
    clinical: tuple[str, ...]


FAMILY, GIVEN = "Quixlowe", "Marabel"
MRN = "MRN4417302"
BIRTH = dt.date(1965, 3, 12)
PHONE = "(555) 274-9183"


def descriptor_phi_dataset() -> DescriptorCase:
    """Descriptors (Clean Descriptors Option rows) holding the patient's name parts, ID,
    birth date in several spellings and phone number, next to ordinary clinical words."""
    ds = Dataset()
    _image_attributes(ds)
    uid = "1.2.826.0.1.3680043.8.498.77"
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (f"{uid}.{i}" for i in (1, 2, 3))
    ds.PatientName = f"{FAMILY}^{GIVEN}"
    ds.PatientID = MRN
    ds.PatientBirthDate = BIRTH.strftime("%Y%m%d")
    ds.PatientSex = "F"
    ds.PatientTelephoneNumbers = PHONE
    ds.StudyDate = "20240318"
    ds.AccessionNumber = "ACC20240318"
    ds.StudyDescription = f"CT ABDOMEN WITH CONTRAST {FAMILY.upper()}"
    ds.SeriesDescription = f"AXIAL 5MM {GIVEN} {FAMILY}"
    ds.ProtocolName = f"ABD PELVIS {FAMILY.lower()}, {GIVEN.lower()}"
    ds.RequestedProcedureDescription = f"CT CHEST WITHOUT CONTRAST for {GIVEN}"
    ds.ReasonForStudy = f"pain, {FAMILY}^{GIVEN} dob {BIRTH:%d/%m/%Y}"
    ds.PerformedProcedureStepDescription = f"CT ABDOMEN {MRN}"
    ds.ImageComments = (
        f"Pt {GIVEN} {FAMILY} ({MRN}), DOB {BIRTH:%d/%m/%Y}, call {PHONE}. "
        "CT ABDOMEN WITH CONTRAST, no acute findings."
    )
    ds.AdditionalPatientHistory = (
        f"{FAMILY.lower()} reports pain since her birthday {BIRTH:%Y-%m-%d}; "
        f"born {BIRTH.day} {BIRTH:%B %Y}; contact +1 555 274 9183. Prior appendectomy."
    )
    ds.PatientComments = f"{FAMILY.upper()}, {GIVEN.upper()} DOB {BIRTH:%m-%d-%Y} ID {MRN}"
    ds.DerivationDescription = f"reformatted for {GIVEN} {FAMILY[0]}. {FAMILY}"
    ds.AcquisitionComments = f"patient id {MRN[3:]} tel 555-274-9183 contrast given"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    phi = {
        "family name": FAMILY,
        "given name": GIVEN,
        "patient ID digits": MRN[3:],
        "birth date DD/MM/YYYY": f"{BIRTH:%d/%m/%Y}",
        "birth date MM-DD-YYYY": f"{BIRTH:%m-%d-%Y}",
        "birth date YYYY-MM-DD": f"{BIRTH:%Y-%m-%d}",
        "birth date D Month YYYY": f"{BIRTH.day} {BIRTH:%B %Y}",
        "birth date YYYYMMDD": f"{BIRTH:%Y%m%d}",
        "phone (555) 274-9183": "274-9183",
        "phone +1 555 274 9183": "274 9183",
    }
    clinical = ("CT ABDOMEN WITH CONTRAST", "AXIAL 5MM", "ABD PELVIS", "appendectomy")
    return DescriptorCase(ds, phi, clinical)


# --------------------------------------------------------------------------- enhanced


def enhanced_dataset(frames: int = 6, *, implicit: bool = False) -> Dataset:
    """An enhanced CT header whose per-frame items hold what a real one holds: dated frame
    content, positions, source image references, a private block, and (in every third
    item) a person name and a description that quotes the patient."""
    ds = Dataset()
    _image_attributes(ds, pixels=False)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.1.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.1.3"
    ds.PatientName = "QUILLFEATHER^ROSALIND"
    ds.PatientID = "MRN4471920"
    ds.PatientBirthDate = "19610304"
    ds.StudyDate = "20240511"
    ds.NumberOfFrames = frames
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([_items(PixelSpacing=[0.5, 0.5])])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for k in range(frames):
        item = Dataset()
        item.FrameContentSequence = Sequence([_items(
            FrameAcquisitionDateTime=f"20240511{10 + k % 10:02d}0{k % 6}11.000000",
            FrameReferenceDateTime="20240511100011",
            StackID="1", InStackPositionNumber=k + 1, DimensionIndexValues=[1, k + 1],
        )])  # fmt: skip
        item.PlanePositionSequence = Sequence([_items(ImagePositionPatient=[0, 0, -k])])
        source = _items(ReferencedSOPClassUID=CTImageStorage,
                        ReferencedSOPInstanceUID=f"1.2.826.0.1.3680043.10.2.{k % 3}")  # fmt: skip
        derivation = _items(SourceImageSequence=Sequence([source]))
        if k % 3 == 0:
            derivation.DerivationDescription = f"resampled for QUILLFEATHER on {k} May 2024"
            observer = _items(PersonName="WHITLOCK^AMOS", ObservationDateTime="20240511")
            item.ContentSequence = Sequence([observer])
        else:
            derivation.DerivationDescription = "resampled"
        item.DerivationImageSequence = Sequence([derivation])
        block = item.private_block(0x0021, "DICOMSCRUB TEST", create=True)
        block.add_new(0x10, "LO", f"QUILLFEATHER slice {k}")
        block.add_new(0x11, "DS", "0.5")
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PixelData = np.zeros(64 * frames, dtype=np.uint16).tobytes()
    return ds


def _items(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item
