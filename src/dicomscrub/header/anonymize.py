"""Apply a :class:`HeaderProfile` to a dataset at every sequence depth."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydicom import config
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from dicomscrub import __version__
from dicomscrub.header.clean import clean_text
from dicomscrub.header.dates import shift_da, shift_dt
from dicomscrub.header.dictionary import peek, stored_text, tag_info, text_value
from dicomscrub.header.encoding import (
    ITEM,
    ITEM_END,
    UNDEFINED,
    element_header,
    encode_text_values,
)
from dicomscrub.header.options import BASIC_CODE, BY_NAME
from dicomscrub.header.overrides import path_component
from dicomscrub.header.phi import RemovedPrivate, header_terms
from dicomscrub.header.private import (
    PrivateRef,
    creators_of,
    declared_safe,
    is_creator_tag,
    is_private_group,
    private_ref,
)
from dicomscrub.header.profile import Action, Context, Decision, HeaderProfile
from dicomscrub.header.pseudonyms import (
    NEVER_REMAP_KEYWORDS,
    Pseudonymizer,
    is_well_known_uid,
    keeps_uid,
)
from dicomscrub.header.rawseq import (
    NotEncodable,
    SequenceRewriter,
    parsed_sequence,
    stored_implicit,
    written_implicit,
)
from dicomscrub.models import PIXEL_DATA_TAGS
from dicomscrub.terms import holds_term, identifying_terms

log = logging.getLogger(__name__)

#: Dummy values per VR for the D action (never derived from the original value).
DUMMY_VALUES: dict[str, object] = {
    "AE": "ANONYMOUS",
    "AS": "000D",
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

#: File meta elements that are written out; every other one is dropped.
_META_KEPT = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010,
                        0x00020012, 0x00020013})  # fmt: skip

#: Maximum value lengths of the text VRs, so cleaned or replaced text stays valid.
MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None,
              "UT": None, "PN": 64 * 3}  # fmt: skip

_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_]+")


def _plain_token(value: str, vr: str) -> bool:
    """A value a LO or SH element holds as pydicom would write it in any character set
    (letters, digits and underscores, within the VR's length: nothing to validate)."""
    limit = MAX_LENGTH.get(vr) if vr in ("LO", "SH") else None
    return limit is not None and len(value) <= limit and bool(_PLAIN_TOKEN.fullmatch(value))


_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
     "UR", "UT"}
)  # fmt: skip


@dataclass(slots=True)
class HeaderReport:
    """What the anonymiser did: counts per action, the patient's pseudonym and offset, and
    every original -> replacement pair (the crosswalk rows of this file)."""

    pseudonym: str = ""
    date_offset_days: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)
    identifiers: dict[tuple[str, str], str] = field(default_factory=dict)

    def count(self, action: Action) -> None:
        self.counts[action.value] = self.counts.get(action.value, 0) + 1


def patient_identity(ds: Dataset) -> str:
    """The value a patient's pseudonym and date shift are keyed on.

    PatientID when present, else PatientName, else the StudyInstanceUID (so files of one
    study without patient data still share a shift); never logged.
    """
    for tag, label in ((0x00100020, "id"), (0x00100010, "name"), (0x0020000D, "study")):
        value = text_value(ds, tag)
        if value:
            return f"{label}:{value}"
    return "unknown:"


@dataclass(frozen=True, slots=True)
class Scope:
    """What stays fixed while one object is walked: its SOP class (for compound codes),
    its own identifying terms (for screening and cleaning) and what its Private Data
    Element Characteristics Sequence declares safe."""

    sop_class: str
    terms: frozenset[str]
    declared: frozenset[PrivateRef]
    safe_blocks: frozenset[tuple[str, int]]
    implicit: bool | None = None  # how the object is written, when as it was read

    def within(self, ds: Dataset) -> Scope:
        """This scope plus what a sequence item's own (0008,0300) declares safe."""
        if 0x00080300 not in ds:
            return self
        declared, blocks = declared_safe(ds)
        return dataclasses.replace(
            self, declared=self.declared | declared, safe_blocks=self.safe_blocks | blocks
        )

    @classmethod
    def of(
        cls,
        ds: Dataset,
        terms: frozenset[str] | None = None,
        removed: RemovedPrivate | None = None,
    ) -> Scope:
        """``removed``: private elements the walk will remove (see ``header_terms``)."""
        declared, blocks = declared_safe(ds)
        return cls(
            sop_class=str(ds.get("SOPClassUID", "") or ""),
            terms=terms if terms is not None else identifying_terms(*header_terms(ds, removed)),
            declared=declared,
            safe_blocks=blocks,
            implicit=written_implicit(ds),
        )


@dataclass(frozen=True, slots=True)
class ElementDecision:
    """One element of a dataset level and the profile's decision for it."""

    tag: int
    keyword: str
    vr: str
    path: tuple[str, ...]
    private: PrivateRef | None
    decision: Decision


#: Decisions kept per anonymiser: groups (sequence paths, contexts, SOP classes), and
#: public tags and VRs per group.
_MEMO_GROUPS = 10_000
_MEMO_LIMIT = 50_000

#: The memo of :func:`decisions`.
DecisionMemo = dict[tuple[object, ...], dict[tuple[int, str | None], ElementDecision]]


def decisions(
    profile: HeaderProfile,
    ds: Dataset,
    scope: Scope,
    prefix: tuple[str, ...],
    context: Context,
    memo: DecisionMemo | None = None,
) -> Iterator[ElementDecision]:
    """The decision for every element of one dataset level (pixel data aside), decided
    from the tag and stored VR without decoding values; shared by the anonymiser and
    ``describe`` so that what is described is what is done.

    ``memo`` keeps the decisions of public elements, which depend on nothing else, for
    the next object.
    """
    for _, _, item in _decided(profile, ds, scope, prefix, context, memo):
        yield item


def _decided(
    profile: HeaderProfile,
    ds: Dataset,
    scope: Scope,
    prefix: tuple[str, ...],
    context: Context,
    memo: DecisionMemo | None,
) -> Iterator[tuple[BaseTag, DataElement | RawDataElement, ElementDecision]]:
    """:func:`decisions`, each with the dataset's own key and element as stored (deferred
    values not read): the caller changes the element through that key, which pydicom
    finds without building and comparing a new tag."""
    creators = creators_of(ds)
    scope = scope.within(ds)
    # Public decisions depend on the tag and stored VR within one (path, context, SOP
    # class): one table of them per such group, looked up by two plain values.
    group = None
    if memo is not None:
        group = memo.get((prefix, context, scope.sop_class))
        if group is None and len(memo) < _MEMO_GROUPS:
            group = memo[(prefix, context, scope.sop_class)] = {}
    # Walking changes only the element at hand (and items inside it): the others are
    # still the ones listed here when their turn comes.
    elements: list[tuple[BaseTag, DataElement | RawDataElement]] = list(ds.items())
    for tag, stored in elements:
        tag_int = int(tag)
        if tag_int in PIXEL_DATA_TAGS:
            continue  # pixel data is the pixel step's business; never loaded here
        stored_vr = getattr(stored, "VR", None)
        key = None
        if group is not None and not tag_int & 0x10000:
            key = (tag_int, stored_vr)
            known = group.get(key)
            if known is not None:
                yield tag, stored, known
                continue
        try:
            keyword, vr = tag_info(tag_int, stored_vr)
        except Exception:
            keyword, vr = "", "UN"
        path = (*prefix, path_component(tag_int, keyword))
        private = private_ref(creators, tag_int) if is_private_group(tag_int) else None
        decision = profile.decide(
            tag_int, keyword, vr, path=path, sop_class=scope.sop_class, context=context,
            private=private, declared_safe=scope.declared, safe_blocks=scope.safe_blocks,
        )  # fmt: skip
        if private is not None and decision.action is Action.KEEP and _hidden_sequence(ds, tag_int):
            decision = Decision(Action.REMOVE, "private sequence stored as UN: cannot be walked")
        made = ElementDecision(tag_int, keyword, vr, path, private, decision)
        if key is not None and group is not None and len(group) < _MEMO_LIMIT:
            group[key] = made
        yield tag, ds.get_item(tag, keep_deferred=True), made


class HeaderAnonymizer:
    """De-identifies datasets in place with one profile and one pseudonymizer."""

    def __init__(
        self, profile: HeaderProfile, pseudonymizer: Pseudonymizer, *, encoded: bool = True
    ) -> None:
        self.profile = profile
        self.pseudo = pseudonymizer
        self.encoded = encoded  # False: every element is decoded and changed as an object
        self._encoded_marks: dict[tuple[object, ...], list[RawDataElement] | None] = {}
        self._decided: DecisionMemo = {}
        self._patients: dict[str, tuple[str, int]] = {}
        self._sequence_decided: dict[
            tuple[object, ...], dict[tuple[object, ...], tuple[tuple[str, ...], Decision]]
        ] = {}

    def anonymize(
        self,
        ds: Dataset,
        *,
        pixels_cleaned: bool,
        terms: frozenset[str] | None = None,
    ) -> HeaderReport:
        """Apply the profile to ``ds`` (and its file meta), then write the required attributes.

        ``pixels_cleaned`` says the pixel step removed burned-in text from this object;
        ``terms`` are its identifying terms when the caller has them already.
        """
        pseudonym, offset = self._patient(patient_identity(ds))
        report = HeaderReport(pseudonym=pseudonym, date_offset_days=offset)
        scope = Scope.of(ds, terms, self.removes_private)
        self._walk(ds, scope, report, (), Context.NORMAL)
        self._fix_file_meta(ds, report)
        self._mark(
            ds, pixels_cleaned=pixels_cleaned, implicit=scope.implicit if self.encoded else None
        )
        return report

    def removes_private(self, ds: Dataset, tag: int) -> bool:
        """True when walking ``ds`` (an object's top level) removes its private element
        at ``tag`` for certain: the profile decides so from the tag, stored VR and
        creator alone, as :func:`decisions` asks it (no characteristics sequence of the
        object to consult, and no KEEP that a closer look could still turn)."""
        if not is_private_group(tag) or is_creator_tag(tag) or 0x00080300 in ds:
            return False
        stored = ds.get_item(tag, keep_deferred=True)
        if stored is None:
            return False
        try:
            keyword, vr = tag_info(tag, getattr(stored, "VR", None))
        except Exception:
            keyword, vr = "", "UN"
        decision = self.profile.decide(
            tag, keyword, vr, path=(path_component(tag, keyword),), sop_class="",
            context=Context.NORMAL, private=private_ref(creators_of(ds), tag),
        )  # fmt: skip
        return decision.action is Action.REMOVE

    def _sequence_decisions(
        self, scope: Scope
    ) -> dict[tuple[object, ...], tuple[tuple[str, ...], Decision]]:
        """The encoded-sequence decisions kept for objects of this SOP class and these
        declared-safe private blocks (shared by every such object)."""
        key = (scope.sop_class, scope.declared, scope.safe_blocks)
        kept = self._sequence_decided.get(key)
        if kept is None:
            if len(self._sequence_decided) >= _MEMO_GROUPS:
                self._sequence_decided.clear()
            kept = self._sequence_decided[key] = {}
        return kept

    def _patient(self, identity: str) -> tuple[str, int]:
        """The patient's pseudonym and date offset (the files of a series share them)."""
        known = self._patients.get(identity)
        if known is None:
            if len(self._patients) >= _MEMO_LIMIT:
                self._patients.clear()
            known = self._patients[identity] = (
                self.pseudo.patient(identity),
                self.pseudo.date_offset_days(identity),
            )
        return known

    def _walk(
        self,
        ds: Dataset,
        scope: Scope,
        report: HeaderReport,
        prefix: tuple[str, ...],
        context: Context,
    ) -> None:
        kept_blocks: set[tuple[int, int]] = set()
        creator_tags: list[BaseTag] = []
        counts = report.counts
        # ``key`` is the dataset's own tag object: pydicom finds it without a new one.
        for key, _, item in _decided(self.profile, ds, scope, prefix, context, self._decided):
            tag, decision = item.tag, item.decision
            action = decision.action
            name = action._value_  # what report.count(action) counts, without the lookup
            counts[name] = counts.get(name, 0) + 1
            if action is Action.CREATOR:
                creator_tags.append(key)
                continue
            if action is Action.REMOVE:
                del ds[key]
                continue
            if item.private is not None:
                kept_blocks.add((tag >> 16, (tag & 0xFFFF) >> 8))
            if action is Action.KEEP:
                continue  # passes through undecoded
            if action in (Action.SCREEN, Action.CLEAN) and unchanged_by(action, ds, key, scope):
                continue  # looked at, nothing identifying: written back as stored
            if action is Action.RECURSE and self._walk_encoded(ds, item, scope, report):
                continue
            if self._set_encoded(ds, key, item, scope, report):
                continue
            try:
                elem = ds[key]
            except Exception:
                log.warning("element %08X could not be decoded and was removed", tag)
                del ds[key]
                report.count(Action.REMOVE)
                continue
            self._apply(ds, elem, decision, scope, report, item.path)
        for key in creator_tags:
            if (key >> 16, key & 0xFF) not in kept_blocks:
                del ds[key]

    def _walk_encoded(
        self, ds: Dataset, item: ElementDecision, scope: Scope, report: HeaderReport
    ) -> bool:
        """De-identify a still-encoded sequence on its bytes (see ``header.rawseq``);
        False, with nothing changed, when it must be walked as objects instead."""
        implicit = scope.implicit
        if not self.encoded or implicit is None or stored_implicit(ds) != implicit:
            return False  # the writer re-encodes this level: leave it to pydicom
        try:
            parsed = parsed_sequence(ds, item.tag, implicit)
        except NotEncodable as exc:
            log.debug("sequence %08X walked as objects: %s", item.tag, exc)
            return False
        if parsed is None:
            return False
        scratch = HeaderReport(report.pseudonym, report.date_offset_days)
        rewriter = SequenceRewriter(
            self.profile,
            sop_class=scope.sop_class,
            declared=scope.declared,
            safe_blocks=scope.safe_blocks,
            apply=lambda holder, elem, decision, path: self._apply(
                holder, elem, decision, scope, scratch, path
            ),
            plain=lambda keyword, vr, action, stored: self._plain_values(
                keyword, vr, action, stored, scratch
            ),
            unchanged=lambda action, holder, tag: unchanged_by(action, holder, tag, scope),
            charset=ds._character_set,
            out_encoding=ds._character_set,  # inherited from the parents for an item
            implicit=implicit,
            decided=self._sequence_decisions(scope),
        )
        try:
            value = rewriter.items(*parsed, item.path, item.decision.context)
        except NotEncodable as exc:
            log.debug("sequence %08X walked as objects: %s", item.tag, exc)
            return False
        for action, count in rewriter.counts.items():
            report.counts[action.value] = report.counts.get(action.value, 0) + count
        report.uids.update(scratch.uids)
        report.identifiers.update(scratch.identifiers)
        ds[item.tag] = RawDataElement(
            BaseTag(item.tag),
            None if implicit else "SQ",
            UNDEFINED,
            value,
            0,  # where pydicom would say the value starts, had it read these bytes
            implicit,
            True,
        )
        return True

    def _apply(
        self,
        ds: Dataset,
        elem: DataElement,
        decision: Decision,
        scope: Scope,
        report: HeaderReport,
        path: tuple[str, ...],
    ) -> None:
        action = decision.action
        if action is Action.SCREEN:
            if not any(holds_term(str(v), scope.terms) for v in as_values(elem.value)):
                return
            action = Action.DUMMY  # not removed or emptied: it may be a Type 1 or 2 attribute
        if action is Action.KEEP:
            return
        if action is Action.REMOVE:
            del ds[elem.tag]
        elif action is Action.EMPTY:
            _empty(elem)
        elif action is Action.DUMMY:
            self._dummy(elem, report)
        elif action is Action.PSEUDONYM:
            elem.value = report.pseudonym
        elif action is Action.PSEUDO_ID:
            self._pseudo_id(elem, report)
        elif action is Action.UID:
            self._remap_uids(elem, report)
        elif action is Action.SHIFT:
            self._shift(elem, report.date_offset_days)
        elif action is Action.CLEAN:
            _set_text(elem, [clean_text(str(v), scope.terms) for v in as_values(elem.value)])
        elif action is Action.REPLACE:
            if elem.VR == "SQ":
                raise ValueError(f"replace cannot apply to the sequence {path[-1]}")
            _set_text(elem, [decision.value] if decision.value else [])
        elif action is Action.REGEX:
            pattern = decision.pattern
            assert pattern is not None
            values = [pattern.sub(decision.replacement, str(v)) for v in as_values(elem.value)]
            _set_text(elem, values)
        elif action is Action.RECURSE:
            for item in elem.value or ():
                self._walk(item, scope, report, path, decision.context)

    def _dummy(self, elem: DataElement, report: HeaderReport) -> None:
        if elem.VR == "SQ":
            elem.value = Sequence([])
        elif elem.VR == "UI":
            self._remap_uids(elem, report)
        elif elem.VR in DUMMY_VALUES:
            elem.value = DUMMY_VALUES[elem.VR]
        else:  # binary (an encapsulated document, say): two zero bytes, not the original
            elem.value = b"\x00\x00"

    def _pseudo_id(self, elem: DataElement, report: HeaderReport) -> None:
        values = [str(v).strip() for v in as_values(elem.value)]
        _set_text(elem, self._tokens(elem.keyword, values, report))

    def _tokens(self, keyword: str, values: list[str], report: HeaderReport) -> list[str]:
        tokens = []
        for value in values:
            if not value:
                continue
            token = self.pseudo.identifier(value)
            report.identifiers[(keyword, value)] = token
            tokens.append(token)
        return tokens

    def _remap_uids(self, elem: DataElement, report: HeaderReport) -> None:
        values = as_values(elem.value)
        if not values:
            return
        mapped = self._mapped_uids(elem.keyword, [str(v) for v in values], report)
        elem.value = mapped[0] if len(mapped) == 1 else mapped

    def _mapped_uids(self, keyword: str, values: list[str], report: HeaderReport) -> list[str]:
        mapped = []
        for value in values:
            text = value.strip()
            # The profile already kept class and syntax UIDs it does not list; a table row
            # that says U (ManufacturerDeviceClassUID) is followed, well-known UIDs aside.
            if is_well_known_uid(text) or keyword in NEVER_REMAP_KEYWORDS:
                mapped.append(text)
                continue
            new = self.pseudo.uid(text)
            report.uids[text] = new
            mapped.append(new)
        return mapped

    def _shift(self, elem: DataElement, days: int) -> None:
        if elem.VR not in ("DA", "DT"):
            return  # a time moves with its date by whole days: unchanged
        try:
            values = [str(v) for v in as_values(elem.value)]
        except Exception:
            values = []
        _set_text(elem, _shifted(elem.VR, values, days))

    def _plain_values(
        self,
        keyword: str,
        vr: str,
        action: Action,
        stored: bytes,
        report: HeaderReport,
        terms: frozenset[str] | None = None,
    ) -> list[str] | None:
        """The new values the element code gives an element stored as ``stored``, for the
        actions whose result is plain ASCII text decided without pydicom's decoding (an
        emptied value, the pseudonym, a UID, a shifted date, an identifier's token, and,
        given the object's ``terms``, screened or cleaned text that changes); ``None`` for
        anything else, which is then decoded and changed as an object."""
        if action is Action.EMPTY and vr != "SQ":
            return []
        if action is Action.PSEUDONYM and (vr == "PN" or _plain_token(report.pseudonym, vr)):
            return [report.pseudonym]  # the same bytes in every character set
        if not stored.isascii() or b"\x1b" in stored:
            return None  # a character set could read these bytes otherwise
        if b"\x00" in stored.rstrip(b"\x00 "):
            return None  # a NUL inside: pydicom's reading of each value decides
        if terms is not None and action in (Action.SCREEN, Action.CLEAN):
            return _changed_text(vr, action, stored, terms)
        text = stored.decode("ascii").rstrip("\x00 ")
        values = text.split("\\") if text else []
        if vr == "UI" and action in (Action.UID, Action.DUMMY):
            return self._mapped_uids(keyword, values, report) if values else None
        if vr in ("DA", "DT") and action is Action.SHIFT:
            return _shifted(vr, values, report.date_offset_days)
        if vr in ("LO", "SH") and action is Action.PSEUDO_ID:
            tokens = self._tokens(keyword, [v.strip() for v in values], report)
            return [t[: MAX_LENGTH[vr]] for t in tokens]
        return None

    def _set_encoded(
        self, ds: Dataset, key: BaseTag, item: ElementDecision, scope: Scope, report: HeaderReport
    ) -> bool:
        """Replace a still-encoded element (at ``key``, the dataset's own tag) by its new
        encoded value when :meth:`_plain_values` can give it (byte for byte what the
        object code writes); False, with nothing changed, otherwise."""
        if not self.encoded or scope.implicit is None:
            return False
        stored = ds.get_item(key, keep_deferred=True)
        if (
            not isinstance(stored, RawDataElement)
            or stored.value is None
            or stored.length == UNDEFINED
            or stored.is_implicit_VR != scope.implicit
            or not stored.is_little_endian
            or stored.VR not in (item.vr, None)
        ):
            return False
        values = self._plain_values(item.keyword, item.vr, item.decision.action, stored.value,
                                    report, scope.terms)  # fmt: skip
        if values is None:
            return False
        data = encode_text_values(item.vr, values)
        ds[key] = RawDataElement(  # stored._replace(length=..., value=...), built directly
            stored.tag, stored.VR, len(data), data, stored.value_tell, stored.is_implicit_VR,
            stored.is_little_endian, stored.is_raw, stored.is_buffered,
        )  # fmt: skip
        return True

    def _fix_file_meta(self, ds: Dataset, report: HeaderReport) -> None:
        if getattr(ds, "preamble", None) is not None:
            ds.preamble = b"\x00" * 128  # the 128 bytes before DICM can hold anything
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        instance = text_value(ds, 0x00080018)
        if instance:
            _set_meta_text(meta, 0x00020003, "UI", instance)
        elif "SOPInstanceUID" in ds:  # an empty instance UID: nothing for the meta to follow
            if "MediaStorageSOPInstanceUID" in meta:
                del meta.MediaStorageSOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta and "retain_uids" not in self.profile.options:
            original = str(meta.MediaStorageSOPInstanceUID)
            if not keeps_uid("MediaStorageSOPInstanceUID", original):
                meta.MediaStorageSOPInstanceUID = self.pseudo.uid(original)
                report.uids[original] = str(meta.MediaStorageSOPInstanceUID)
        for tag in list(meta.keys()):
            if int(tag) not in _META_KEPT:  # AE titles, addresses, private information...
                del meta[tag]
        _set_meta_text(meta, 0x00020013, "SH", _IMPLEMENTATION_VERSION)

    def _mark(self, ds: Dataset, *, pixels_cleaned: bool, implicit: bool | None) -> None:
        """PatientIdentityRemoved, the method text and one CID 7050 code per applied option.

        Clean Pixel Data counts as applied only when the pixel step actually redacted
        this object; only then is BurnedInAnnotation set to NO. The same few elements go
        into every object of a run: when the object is written as read (``implicit`` not
        ``None``) they are encoded once and reused.
        """
        options = [o for o in self.profile.options if o != "clean_pixel_data" or pixels_cleaned]
        if text_value(ds, 0x00280302).upper() == "YES":  # RecognizableVisualFeatures
            # Nothing is defaced: an object that says it shows a face is not declared clean.
            options = [o for o in options if o != "clean_recognizable_visual_features"]
        marks, codes = self._marks(options, pixels_cleaned)
        if implicit is not None:
            key = (tuple(options), pixels_cleaned, implicit)
            if key not in self._encoded_marks:
                self._encoded_marks[key] = _encode_marks(marks, codes, implicit)
            encoded = self._encoded_marks[key]
            if encoded is not None:
                for elem in encoded:
                    ds[elem.tag] = elem
                return
        for tag, vr, values in marks:
            ds.add_new(tag, vr, values[0] if len(values) == 1 else values)
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)

    def _marks(
        self, options: list[str], pixels_cleaned: bool
    ) -> tuple[list[tuple[int, str, list[str]]], list[tuple[str, str]]]:
        """The marking elements as (tag, VR, values), and the (code, meaning) items."""
        methods = [f"dicomscrub {__version__}", self.profile.edition[:64],
                   "PS3.15 E.1-1 basic profile"]  # fmt: skip
        methods += [o.replace("_", " ") for o in options]
        if self.profile.rules:
            methods.append(f"{len(self.profile.rules)} override rules")
        if "retain_long_modified_dates" in options:
            longitudinal = "MODIFIED"
        elif "retain_long_full_dates" in options:
            longitudinal = "UNMODIFIED"
        else:
            longitudinal = "REMOVED"
        marks = [
            (0x00120062, "CS", ["YES"]),  # PatientIdentityRemoved
            (0x00120063, "LO", [m[:64] for m in methods]),  # DeidentificationMethod
            (0x00280303, "CS", [longitudinal]),  # LongitudinalTemporalInformationModified
        ]
        if pixels_cleaned:
            marks.append((0x00280301, "CS", ["NO"]))  # BurnedInAnnotation
        codes = [BASIC_CODE, *((BY_NAME[o].code, BY_NAME[o].meaning) for o in options)]
        return marks, codes


_IMPLEMENTATION_VERSION = f"DICOMSCRUB_{__version__.replace('.', '')}"[:16]


def _set_meta_text(meta: Dataset, tag: int, vr: str, value: str) -> None:
    """``meta.<keyword> = value`` for a file meta text element: a new element of the VR
    the setter would keep (the written bytes depend on VR and value alone), built
    directly rather than by decoding the stored one first; the setter itself when the
    stored element is unusual or pydicom is set to raise on invalid values."""
    stored = meta.get_item(tag, keep_deferred=True)
    undefined = stored is not None and (
        stored.length == UNDEFINED
        if isinstance(stored, RawDataElement)
        else stored.is_undefined_length
    )
    if (
        (stored is not None and (getattr(stored, "VR", None) != vr or undefined))
        or config.settings.reading_validation_mode == config.RAISE
        or config.settings.writing_validation_mode == config.RAISE
    ):
        setattr(meta, keyword_for_tag(tag), value)
        return
    meta[tag] = DataElement(tag, vr, value)


def _encode_marks(
    marks: list[tuple[int, str, list[str]]], codes: list[tuple[str, str]], implicit: bool
) -> list[RawDataElement] | None:
    """The marking elements encoded as the fast writer writes their objects; ``None``
    when any text is not plain ASCII."""
    texts = [v for _, _, values in marks for v in values] + [t for c in codes for t in c]
    if not all(t.isascii() for t in texts):
        return None

    def raw(tag: int, vr: str, data: bytes, length: int | None = None) -> RawDataElement:
        size = len(data) if length is None else length
        return RawDataElement(BaseTag(tag), vr, size, data, 0, implicit, True)

    out = [raw(tag, vr, encode_text_values(vr, values)) for tag, vr, values in marks]
    items = []
    for value, meaning in codes:
        fields = ((0x00080100, "SH", value), (0x00080102, "SH", "DCM"), (0x00080104, "LO", meaning))
        body = b"".join(
            element_header(tag, vr, len(data), implicit) + data
            for tag, vr, data in ((t, v, encode_text_values(v, [x])) for t, v, x in fields)
        )
        items.append(ITEM + body + ITEM_END)
    out.append(raw(0x00120064, "SQ", b"".join(items), UNDEFINED))
    return out


def unchanged_by(action: Action, ds: Dataset, tag: int, scope: Scope) -> bool:
    """True when screening or cleaning the element would leave its text as it is (it
    then stays as stored); False when it would change, or cannot be read."""
    try:
        plain = stored_text(ds, tag)
        if plain is not None:
            texts = [plain] if plain else []
        else:
            texts = [str(v) for v in as_values(peek(ds, tag).value)]
    except Exception:
        return False
    if action is Action.SCREEN:
        return not any(holds_term(t, scope.terms) for t in texts)
    return all(clean_text(t, scope.terms) == t for t in texts)


_ITEM_TAG = b"\xfe\xff\x00\xe0"


def _hidden_sequence(ds: Dataset, tag: int) -> bool:
    """True for a value stored as UN (implicit VR, or unknown private) that is really a
    sequence: undefined length, or bytes that open with an item tag."""
    stored = ds.get_item(tag, keep_deferred=True)
    if stored is None or stored.VR not in (None, "UN"):
        return False
    if isinstance(stored, RawDataElement) and stored.length == 0xFFFFFFFF:
        return True
    value = ds.get_item(tag).value
    return isinstance(value, bytes) and value[:4] == _ITEM_TAG


#: Text VRs pydicom reads as values split at backslashes, and as one string.
_SPLIT_TEXT_VRS = frozenset({"LO", "SH", "UC"})
_WHOLE_TEXT_VRS = frozenset({"ST", "LT", "UT"})


def _changed_text(
    vr: str, action: Action, stored: bytes, terms: frozenset[str]
) -> list[str] | None:
    """What :meth:`HeaderAnonymizer._apply` makes of plain ASCII text that screening or
    cleaning changes (the caller found that it does), from the stored bytes: the values
    as pydicom reads them (trailing padding off each), a screened element's dummy value,
    or the cleaned values cut to the VR's length; ``None`` when the text would stay as
    it is or is of another VR, for the object code to decide."""
    text = stored.decode("ascii")
    if vr in _WHOLE_TEXT_VRS:
        whole = text.rstrip("\x00 ")
        values = [whole] if whole else []
    elif vr in _SPLIT_TEXT_VRS:
        parts = [part.rstrip("\x00 ") for part in text.split("\\")]
        values = parts if len(parts) > 1 else [p for p in parts if p]
    else:
        return None
    if action is Action.SCREEN:
        dummy = DUMMY_VALUES.get(vr)
        if isinstance(dummy, str) and any(holds_term(v, terms) for v in values):
            return [dummy]
        return None
    cleaned = [clean_text(v, terms) for v in values]
    if cleaned == values:
        return None
    limit = MAX_LENGTH.get(vr)
    return [v[:limit] for v in cleaned] if limit is not None else cleaned


def _shifted(vr: str, values: list[str], days: int) -> list[str]:
    shift = shift_da if vr == "DA" else shift_dt
    return [s for s in (shift(v, days) for v in values) if s]


def _empty(elem: DataElement) -> None:
    if elem.VR == "SQ":
        elem.value = Sequence([])
    else:
        elem.value = "" if elem.VR in _TEXT_VRS else None


def _set_text(elem: DataElement, values: list[str]) -> None:
    """Store text values, cut to the VR's maximum length; none left means empty."""
    limit = MAX_LENGTH.get(elem.VR)
    if limit is not None:
        values = [v[:limit] for v in values]
    if not values:
        _empty(elem)
    elif len(values) == 1:
        elem.value = values[0]
    else:
        elem.value = values


def as_values(value: object) -> list[object]:
    """An element value as a list of its values (empty for an empty value)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]
