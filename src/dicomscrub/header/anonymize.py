"""Apply a :class:`HeaderProfile` to a dataset at every sequence depth."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from dicomscrub import __version__
from dicomscrub.header.dates import shift_da, shift_dt
from dicomscrub.header.phi import header_terms
from dicomscrub.header.profile import Action, HeaderProfile
from dicomscrub.header.pseudonyms import Pseudonymizer, keeps_uid
from dicomscrub.models import PIXEL_DATA_TAGS
from dicomscrub.terms import holds_term, identifying_terms

log = logging.getLogger(__name__)

#: Dummy values per VR for the D action (never derived from the original value).
DUMMY_VALUES: dict[str, object] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "PN": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "TM": "000000",
    "UC": "ANONYMIZED",
    "UR": "",
    "UT": "ANONYMIZED",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
}

#: CID 7050 codes for what this release applies.
CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_PIXELS = ("113101", "Clean Pixel Data Option")
CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")


@dataclass(slots=True)
class HeaderReport:
    """What the anonymiser did: counts per action, and the patient's pseudonym."""

    pseudonym: str = ""
    date_offset_days: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, action: Action) -> None:
        self.counts[action.value] = self.counts.get(action.value, 0) + 1


def patient_identity(ds: Dataset) -> str:
    """The value a patient's pseudonym and date shift are keyed on.

    PatientID when present, else PatientName, else the StudyInstanceUID (so files of one
    study without patient data still share a shift); never logged.
    """
    for keyword, label in (
        ("PatientID", "id"),
        ("PatientName", "name"),
        ("StudyInstanceUID", "study"),
    ):
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            return f"{label}:{value}"
    return "unknown:"


class HeaderAnonymizer:
    """De-identifies datasets in place with one profile and one pseudonymizer."""

    def __init__(self, profile: HeaderProfile, pseudonymizer: Pseudonymizer) -> None:
        self.profile = profile
        self.pseudo = pseudonymizer
        self._terms: frozenset[str] = frozenset()

    def anonymize(self, ds: Dataset, *, pixels_cleaned: bool) -> HeaderReport:
        """Apply the profile to ``ds`` (and its file meta), then write the required attributes."""
        identity = patient_identity(ds)
        self._terms = identifying_terms(*header_terms(ds))
        report = HeaderReport(
            pseudonym=self.pseudo.patient(identity),
            date_offset_days=self.pseudo.date_offset_days(identity),
        )
        self._walk(ds, report)
        self._fix_file_meta(ds)
        self._mark(ds, report, pixels_cleaned=pixels_cleaned)
        return report

    def _walk(self, ds: Dataset, report: HeaderReport) -> None:
        for tag in list(ds.keys()):
            if int(tag) in PIXEL_DATA_TAGS:
                continue  # pixel data is the pixel step's business; never loaded here
            try:
                elem = ds[tag]
            except Exception:
                log.warning("element %s could not be decoded and was removed", tag)
                del ds[tag]
                report.count(Action.REMOVE)
                continue
            decision = self.profile.decide(int(elem.tag), elem.keyword, elem.VR)
            report.count(decision.action)
            self._apply(ds, elem, decision.action, report)

    def _apply(self, ds: Dataset, elem: DataElement, action: Action, report: HeaderReport) -> None:
        tag = elem.tag
        if action is Action.SCREEN:
            if not self._holds_identifying_value(elem):
                return
            action = Action.EMPTY  # emptied, not removed: it may be a Type 2 attribute
            report.count(Action.EMPTY)
        if action is Action.KEEP:
            return
        if action is Action.REMOVE:
            del ds[tag]
        elif action is Action.EMPTY:
            if elem.VR == "SQ":
                elem.value = Sequence([])
            else:
                elem.value = "" if elem.VR in _TEXT_VRS else None
        elif action is Action.DUMMY:
            self._dummy(ds, elem, report)
        elif action is Action.PSEUDONYM:
            elem.value = report.pseudonym
        elif action is Action.UID:
            self._remap_uids(elem)
        elif action is Action.SHIFT:
            self._shift(ds, elem, report.date_offset_days)
        elif action is Action.RECURSE:
            for item in elem.value or ():
                self._walk(item, report)

    def _holds_identifying_value(self, elem: DataElement) -> bool:
        return any(holds_term(str(v), self._terms) for v in _as_list(elem.value))

    def _dummy(self, ds: Dataset, elem: DataElement, report: HeaderReport) -> None:
        if elem.VR == "SQ":
            elem.value = Sequence([])
        elif elem.VR == "UI":
            self._remap_uids(elem)
        elif elem.VR in ("DA", "DT"):
            self._shift(ds, elem, report.date_offset_days)
            if not elem.value:
                elem.value = DUMMY_VALUES[elem.VR]
        elif elem.VR in DUMMY_VALUES:
            elem.value = DUMMY_VALUES[elem.VR]
        else:  # binary or unknown VR: no meaningful dummy, drop the content
            elem.value = b""

    def _remap_uids(self, elem: DataElement) -> None:
        values = _as_list(elem.value)
        if not values:
            return
        mapped = [v if keeps_uid(elem.keyword, str(v)) else self.pseudo.uid(str(v)) for v in values]
        elem.value = mapped[0] if len(mapped) == 1 else mapped

    def _shift(self, ds: Dataset, elem: DataElement, days: int) -> None:
        if elem.VR not in ("DA", "DT"):
            return
        shift = shift_da if elem.VR == "DA" else shift_dt
        try:
            values = [str(v) for v in _as_list(elem.value)]
        except Exception:
            values = []
        shifted = [shift(v, days) for v in values]
        if not shifted:
            elem.value = ""
        elif len(shifted) == 1:
            elem.value = shifted[0]
        else:
            elem.value = shifted

    def _fix_file_meta(self, ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta:
            original = str(meta.MediaStorageSOPInstanceUID)
            if not keeps_uid("MediaStorageSOPInstanceUID", original):
                meta.MediaStorageSOPInstanceUID = self.pseudo.uid(original)
        for keyword in (
            "SourceApplicationEntityTitle",
            "SendingApplicationEntityTitle",
            "ReceivingApplicationEntityTitle",
            "SourcePresentationAddress",
            "SendingPresentationAddress",
            "ReceivingPresentationAddress",
            "PrivateInformationCreatorUID",
            "PrivateInformation",
        ):
            if keyword in meta:
                del meta[keyword]
        meta.ImplementationVersionName = f"DICOMSCRUB_{__version__.replace('.', '')}"[:16]

    def _mark(self, ds: Dataset, report: HeaderReport, *, pixels_cleaned: bool) -> None:
        ds.PatientIdentityRemoved = "YES"
        methods = [
            f"dicomscrub {__version__}",
            "PS3.15 E.1-1 basic profile",
            self.profile.edition[:64],
        ]
        codes = [CODE_BASIC]
        if "retain_long_modified_dates" in self.profile.options:
            methods.append("retain longitudinal modified dates")
            codes.append(CODE_MODIFIED_DATES)
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        if pixels_cleaned:
            methods.append("clean pixel data")
            codes.append(CODE_CLEAN_PIXELS)
            ds.BurnedInAnnotation = "NO"
        ds.DeidentificationMethod = [m[:64] for m in methods]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)


_TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]
