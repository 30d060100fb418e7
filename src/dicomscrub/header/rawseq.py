"""Sequences de-identified on their encoded bytes, for speed, with pydicom's result.

pydicom turns every item of a sequence it decodes into a ``Dataset`` of element objects;
an enhanced multi-frame header holds one such item (with nested sequences) per frame, and
building, walking and writing those objects costs far more than the few values that
change. Here the items of a little endian sequence are parsed from the stored bytes, each
element gets the very same profile decision as in the object walk, kept elements are
copied as stored, and only the elements that change are decoded, changed by the
anonymiser's own element code, and encoded by pydicom's writer. The result is byte for
byte what the object walk and the fast writer produce (``tests/test_rawseq.py`` compares
them on real and generated files).

Anything this path does not handle the same way raises :class:`NotEncodable` before the
dataset is touched, and the caller walks the sequence as objects instead: a character
set or a Private Data Element Characteristics Sequence inside an item, sequences stored
as UN, values of undefined length other than sequences, malformed lengths, duplicate
tags, and elements whose decoding would depend on their neighbours (ambiguous or private
VRs in implicit VR).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_deferred_data_element
from pydicom.filewriter import write_data_element
from pydicom.tag import BaseTag

from dicomscrub.header.dictionary import tag_info
from dicomscrub.header.encoding import (
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQ_END,
    UNDEFINED,
    element_header,
    encode_stored,
    encode_text_values,
    syntax_uid,
)
from dicomscrub.header.overrides import path_component
from dicomscrub.header.private import PrivateRef, is_creator_tag, is_private_group, private_ref
from dicomscrub.header.profile import Action, Context, Decision, HeaderProfile
from dicomscrub.models import PIXEL_DATA_TAGS

_HEAD = struct.Struct("<HHI")
_SHORT = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")
_LONG_CODES = frozenset(vr.encode("ascii") for vr in LONG_VRS)
_SHORT_CODES = frozenset(
    vr.encode("ascii")
    for vr in ("AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN",
               "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US")
)  # fmt: skip
_ITEM_TAG = b"\xfe\xff\x00\xe0"


#: Decisions a rewriter keeps (within one object, or shared across objects).
_DECIDED_LIMIT = 50_000


class NotEncodable(Exception):
    """This sequence must be walked as pydicom objects."""


@dataclass(slots=True)
class EncodedElement:
    """One element inside a parsed sequence: its stored VR (``None`` in implicit VR),
    where its value lies in the buffer and, for a sequence, its parsed items."""

    tag: int
    vr: str | None
    start: int
    end: int
    undefined: bool
    items: list[list[EncodedElement]] | None
    head: int = -1  # where the element's header starts, when its stored bytes are as
    # the writer would write them (defined, even length; zero reserved bytes)


def stored_implicit(ds: Dataset) -> bool | None:
    """Whether ``ds`` (a data set or an item) was read as implicit VR; ``None`` unless it
    was read little endian, the only byte order parsed here."""
    implicit, little = ds.original_encoding
    if implicit is None or not little:
        return None
    return bool(implicit)


def written_implicit(ds: Dataset) -> bool | None:
    """Whether the fast writer will write ``ds`` (a whole object) as implicit VR, when it
    writes it in the encoding it was read in; ``None`` otherwise (big endian, deflated,
    or stored in another encoding than its transfer syntax says)."""
    meta = getattr(ds, "file_meta", None)
    syntax = syntax_uid(str(meta.get("TransferSyntaxUID", "") if meta is not None else ""))
    if not syntax.is_transfer_syntax or not syntax.is_little_endian or syntax.is_deflated:
        return None
    implicit = syntax.is_implicit_VR
    return implicit if stored_implicit(ds) == implicit else None


def stored_element(ds: Dataset, tag: int) -> RawDataElement | None:
    """The element at ``tag`` as stored, its value read from the file if it was deferred
    (and kept in ``ds``, still undecoded); ``None`` when pydicom already decoded it."""
    elem = ds.get_item(tag, keep_deferred=True)
    if not isinstance(elem, RawDataElement):
        return None
    if elem.value is None and elem.length != 0:
        source = ds.filename or ds.buffer
        if ds.filename and ds.buffer and not getattr(ds.buffer, "closed", False):
            source = ds.buffer
        elem = read_deferred_data_element(ds.fileobj_type, source, ds.timestamp, elem)
        ds[tag] = elem
    return elem


class _ParsedValue(bytes):
    """A stored sequence value that remembers its parse, so that the terms pass and the
    anonymiser parse each sequence once."""

    items: list[list[EncodedElement]]
    implicit: bool


def parsed_sequence(
    ds: Dataset, tag: int, implicit: bool
) -> tuple[bytes, list[list[EncodedElement]]] | None:
    """The stored value and parsed items of the sequence at ``tag`` (``None`` when pydicom
    decoded it already); raises :class:`NotEncodable` as :func:`encoded_sequence` does."""
    stored = stored_element(ds, tag)
    if stored is None:
        return None
    value = stored.value
    if isinstance(value, _ParsedValue) and value.implicit == implicit:
        return value, value.items
    buf, items = encoded_sequence(stored, implicit)
    remembered = _ParsedValue(buf)
    remembered.items, remembered.implicit = items, implicit
    ds[tag] = stored._replace(value=remembered)
    return remembered, items


def encoded_sequence(
    stored: RawDataElement, implicit: bool
) -> tuple[bytes, list[list[EncodedElement]]]:
    """The value bytes and parsed items of a sequence element still as read."""
    value = stored.value
    if not isinstance(value, bytes):
        raise NotEncodable("value not in memory")
    if stored.VR not in ("SQ", None):
        raise NotEncodable("sequence stored as UN")
    end = None if stored.length == UNDEFINED else len(value)
    items, pos = _parse_items(value, 0, end, implicit, allow_open=True)
    if pos != len(value):
        raise NotEncodable("trailing bytes after the items")
    return value, items


def _parse_items(
    buf: bytes, pos: int, end: int | None, implicit: bool, *, allow_open: bool = False
) -> tuple[list[list[EncodedElement]], int]:
    """Items from ``pos`` up to ``end`` (``None``: up to the sequence delimiter, which is
    consumed; with ``allow_open`` the buffer may also simply end, as pydicom stores the
    value of an undefined-length sequence without its delimiter)."""
    items: list[list[EncodedElement]] = []
    size = len(buf)
    while True:
        if end is not None and pos >= end:
            if pos != end:
                raise NotEncodable("item overruns its sequence")
            return items, pos
        if end is None and allow_open and pos == size:
            return items, pos
        if pos + 8 > size:
            raise NotEncodable("truncated sequence")
        group, element, length = _HEAD.unpack_from(buf, pos)
        pos += 8
        if group == 0xFFFE and element == 0xE0DD:
            if end is not None:
                raise NotEncodable("sequence delimiter in a defined-length sequence")
            return items, pos
        if group != 0xFFFE or element != 0xE000:
            raise NotEncodable("not an item")
        if length == UNDEFINED:
            elements, pos = _parse_elements(buf, pos, None, implicit)
        else:
            elements, pos = _parse_elements(buf, pos, pos + length, implicit)
        items.append(elements)


def _parse_elements(
    buf: bytes, pos: int, end: int | None, implicit: bool
) -> tuple[list[EncodedElement], int]:
    elements: list[EncodedElement] = []
    size = len(buf)
    while True:
        if end is not None and pos >= end:
            if pos != end:
                raise NotEncodable("element overruns its item")
            return elements, pos
        if pos + 8 > size:
            raise NotEncodable("truncated item")
        head = pos
        if implicit:
            group, element, length = _HEAD.unpack_from(buf, pos)
            vr = None
            pos += 8
        else:
            group, element, code, length = _SHORT.unpack_from(buf, pos)
            if group == 0xFFFE:
                vr = None
                length = _LONG_LENGTH.unpack_from(buf, pos + 4)[0]
                pos += 8
            elif code in _LONG_CODES:
                if pos + 12 > size:
                    raise NotEncodable("truncated element")
                length = _LONG_LENGTH.unpack_from(buf, pos + 8)[0]
                vr = code.decode("ascii")
                if buf[pos + 6 : pos + 8] != b"\x00\x00":
                    head = -1  # written back with zero reserved bytes
                pos += 12
            elif code in _SHORT_CODES:
                vr = code.decode("ascii")
                pos += 8
            else:  # pydicom would switch to implicit VR here; this path does not
                raise NotEncodable("not an explicit VR")
        if group == 0xFFFE:
            if element == 0xE00D and end is None:
                return elements, pos
            raise NotEncodable("unexpected delimiter")
        tag = group << 16 | element
        is_sequence = tag_info(tag, vr)[1] == "SQ"
        if is_sequence != (vr == "SQ") and vr is not None:
            raise NotEncodable("stored VR disagrees with the dictionary about a sequence")
        if is_sequence:
            if length == UNDEFINED:
                items, after = _parse_items(buf, pos, None, implicit)
                stop = after - 8
            else:
                items, after = _parse_items(buf, pos, pos + length, implicit)
                stop = after
            undefined = length == UNDEFINED
            verbatim = head if not undefined and length % 2 == 0 else -1
            elements.append(EncodedElement(tag, vr, pos, stop, undefined, items, verbatim))
            pos = after
            continue
        if length == UNDEFINED or pos + length > size:
            raise NotEncodable("value of undefined or impossible length")
        verbatim = head if length % 2 == 0 else -1
        elements.append(EncodedElement(tag, vr, pos, pos + length, False, None, verbatim))
        pos += length


def raw_element(buf: bytes, element: EncodedElement, implicit: bool) -> RawDataElement:
    """The pydicom raw element of a parsed one (as pydicom itself would have read it)."""
    length = UNDEFINED if element.undefined else element.end - element.start
    return RawDataElement(
        BaseTag(element.tag), element.vr, length, buf[element.start : element.end],
        element.start, implicit, True,
    )  # fmt: skip


def iter_values(
    buf: bytes,
    items: list[list[EncodedElement]],
    wanted: Callable[[int, str | None], bool],
) -> Iterator[tuple[EncodedElement, int]]:
    """Every element at every depth below ``items`` that ``wanted(tag, stored VR)``
    accepts, with its depth; sequences are entered, never yielded. Raises
    :class:`NotEncodable` for an item with its own character set (its values must be
    read with it)."""
    for item in items:
        if any(element.tag == 0x00080005 for element in item):
            raise NotEncodable("character set inside an item")
        for element in item:
            tag = element.tag
            if tag in PIXEL_DATA_TAGS or (tag >> 16) & 0xFF01 == 0x6000:
                continue
            if element.items is not None:
                yield from iter_values(buf, element.items, wanted)
            elif wanted(tag, element.vr):
                yield element, 0


#: Applies the anonymiser's element code to the one element of a dataset.
ApplyElement = Callable[[Dataset, DataElement, Decision, tuple[str, ...]], None]
#: True when screening or cleaning leaves the one element of a dataset as it is.
Unchanged = Callable[[Action, Dataset, int], bool]
#: The new values of an element from its stored bytes when they are plain text, or ``None``.
PlainValues = Callable[[str, str, Action, bytes], "list[str] | None"]


class SequenceRewriter:
    """Writes the de-identified items of one parsed sequence, or raises
    :class:`NotEncodable` (having changed nothing outside itself)."""

    def __init__(
        self,
        profile: HeaderProfile,
        *,
        sop_class: str,
        declared: frozenset[PrivateRef],
        safe_blocks: frozenset[tuple[str, int]],
        apply: ApplyElement,
        unchanged: Unchanged,
        plain: PlainValues,
        charset: str | list[str],
        out_encoding: object,
        implicit: bool,
        decided: dict[tuple[object, ...], tuple[tuple[str, ...], Decision]] | None = None,
    ) -> None:
        """``decided``: decisions kept from earlier sequences with the same SOP class and
        declared-safe private blocks (the decisions depend on nothing else)."""
        self._profile = profile
        self._sop_class = sop_class
        self._declared = declared
        self._safe_blocks = safe_blocks
        self._apply = apply
        self._unchanged = unchanged
        self._plain = plain
        #: How many elements got each action (merged into the report by the caller).
        self.counts: dict[Action, int] = {}
        self._charset = charset
        self._out_encoding = out_encoding
        self._implicit = implicit
        self._decided = decided if decided is not None else {}
        self._encoded: dict[tuple[object, ...], bytes | None] = {}

    def items(
        self,
        buf: bytes,
        items: list[list[EncodedElement]],
        prefix: tuple[str, ...],
        context: Context,
    ) -> bytes:
        """The items, each of undefined length, as the fast writer writes them."""
        parts: list[bytes] = []
        for item in items:
            parts.append(ITEM)
            parts.extend(self._item(buf, item, prefix, context))
            parts.append(ITEM_END)
        return b"".join(parts)

    def _item(
        self,
        buf: bytes,
        elements: list[EncodedElement],
        prefix: tuple[str, ...],
        context: Context,
    ) -> list[bytes]:
        tags = [e.tag for e in elements]
        if len(set(tags)) != len(tags):
            raise NotEncodable("duplicate tags in an item")
        if 0x00080005 in tags or 0x00080300 in tags:
            raise NotEncodable("character set or private characteristics inside an item")
        creators = self._creators(buf, elements)
        out: list[tuple[int, bytes]] = []
        kept_blocks: set[tuple[int, int]] = set()
        creator_elements: list[EncodedElement] = []
        for element in sorted(elements, key=lambda e: e.tag):
            tag = element.tag
            if tag in PIXEL_DATA_TAGS:
                out.append((tag, self._stored(buf, element)))
                continue
            private = private_ref(creators, tag) if is_private_group(tag) else None
            path, decision = self._decide(element, prefix, context, private)
            if (
                private is not None
                and decision.action is Action.KEEP
                and _hidden_sequence(buf, element)
            ):
                decision = Decision(Action.REMOVE, "private sequence stored as UN")
            action = decision.action
            self.counts[action] = self.counts.get(action, 0) + 1
            if action is Action.CREATOR:
                creator_elements.append(element)
                continue
            if action is Action.REMOVE:
                continue
            if private is not None:
                kept_blocks.add((tag >> 16, (tag & 0xFFFF) >> 8))
            if action is Action.KEEP:
                out.append((tag, self._stored(buf, element)))
            elif action is Action.RECURSE and element.items is not None:
                body = self.items(buf, element.items, path, decision.context)
                out.append((tag, element_header(tag, "SQ", UNDEFINED, self._implicit)
                            + body + SEQ_END))  # fmt: skip
            else:
                encoded = self._changed(buf, element, decision, path, private)
                if encoded is not None:
                    out.append((tag, encoded))
        for element in creator_elements:
            if (element.tag >> 16, element.tag & 0xFF) in kept_blocks:
                # The object walk decodes creators to find the blocks, so it writes them
                # back decoded (padding and VR as pydicom writes them): do the same.
                out.append((element.tag, self._decoded(buf, element)))
        out.sort(key=lambda pair: pair[0])
        # Retired group lengths are dropped by the writer, as pydicom drops them.
        return [data for tag, data in out if tag & 0xFFFF or tag >> 16 <= 6]

    def _decide(
        self,
        element: EncodedElement,
        prefix: tuple[str, ...],
        context: Context,
        private: PrivateRef | None,
    ) -> tuple[tuple[str, ...], Decision]:
        key = (element.tag, element.vr, prefix, context, private)
        known = self._decided.get(key)
        if known is None:
            try:
                keyword, vr = tag_info(element.tag, element.vr)
            except Exception:
                keyword, vr = "", "UN"
            path = (*prefix, path_component(element.tag, keyword))
            decision = self._profile.decide(
                element.tag, keyword, vr, path=path, sop_class=self._sop_class,
                context=context, private=private, declared_safe=self._declared,
                safe_blocks=self._safe_blocks,
            )  # fmt: skip
            known = (path, decision)
            if len(self._decided) < _DECIDED_LIMIT:
                self._decided[key] = known
        return known

    def _stored(self, buf: bytes, element: EncodedElement) -> bytes:
        if element.head >= 0:  # header and value exactly as the writer would write them
            return buf[element.head : element.end]
        value = buf[element.start : element.end]
        if element.undefined:  # a kept sequence of undefined length, as pydicom writes it
            return element_header(element.tag, element.vr, UNDEFINED, self._implicit) + (
                value + SEQ_END
            )
        return encode_stored(element.tag, element.vr, value, self._implicit)

    def _changed(
        self,
        buf: bytes,
        element: EncodedElement,
        decision: Decision,
        path: tuple[str, ...],
        private: PrivateRef | None,
    ) -> bytes | None:
        """The element after the anonymiser's element code, encoded (``None``: removed).

        Within one object the result depends only on the stored value and the decision,
        and every side effect on the report is a deterministic mapping, so a value seen
        before is not decoded again.
        """
        if element.items is not None:
            raise NotEncodable(f"{decision.action.value} on a sequence")
        if self._implicit and (private is not None or _ambiguous(element.tag)):
            raise NotEncodable("VR depends on the neighbouring elements")
        value = buf[element.start : element.end]
        key = (element.tag, element.vr, value, decision, path)
        if key in self._encoded:
            return self._encoded[key]
        encoded = self._plain_encoded(element, value, decision.action)
        if encoded is not None:
            self._encoded[key] = encoded
            return encoded
        holder = Dataset(parent_encoding=self._charset)
        holder[element.tag] = raw_element(buf, element, self._implicit)
        action = decision.action
        if action in (Action.SCREEN, Action.CLEAN) and self._unchanged(action, holder, element.tag):
            encoded = self._stored(buf, element)
        else:
            encoded = self._apply_and_encode(holder, element.tag, decision, path)
        self._encoded[key] = encoded
        return encoded

    def _plain_encoded(self, element: EncodedElement, value: bytes, action: Action) -> bytes | None:
        """A remapped UID or shifted date encoded directly, as pydicom would decode, change
        and write it; ``None`` when the general element path must do it."""
        keyword, vr = tag_info(element.tag, element.vr)
        if element.vr not in (vr, None) or len(value) > 0xFFF0:
            return None
        values = self._plain(keyword, vr, action, value)
        if values is None:
            return None
        data = encode_text_values(vr, values)
        return element_header(element.tag, element.vr or vr, len(data), self._implicit) + data

    def _decoded(self, buf: bytes, element: EncodedElement) -> bytes:
        holder = Dataset(parent_encoding=self._charset)
        holder[element.tag] = raw_element(buf, element, self._implicit)
        try:
            elem = holder[element.tag]
        except Exception as exc:
            raise NotEncodable("value cannot be decoded") from exc
        return self._encode(elem)

    def _encode(self, elem: DataElement) -> bytes:
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = self._implicit
        write_data_element(fp, elem, self._out_encoding)  # type: ignore[arg-type]
        return bytes(fp.getvalue())

    def _apply_and_encode(
        self, holder: Dataset, tag: int, decision: Decision, path: tuple[str, ...]
    ) -> bytes | None:
        try:
            elem = holder[tag]
        except Exception as exc:  # the object walk would log, remove and count it
            raise NotEncodable("value cannot be decoded") from exc
        self._apply(holder, elem, decision, path)
        if tag not in holder:
            return None
        elem = holder[tag]
        if elem.VR == "SQ":
            if elem.value:
                raise NotEncodable("changed sequence with items")
            return element_header(tag, "SQ", UNDEFINED, self._implicit) + SEQ_END
        return self._encode(elem)

    def _creators(self, buf: bytes, elements: list[EncodedElement]) -> dict[tuple[int, int], str]:
        """The private creators of one item, read as ``creators_of`` reads them."""
        found: dict[tuple[int, int], str] = {}
        for element in elements:
            if not is_creator_tag(element.tag):
                continue
            value = buf[element.start : element.end]
            if b"\\" in value or not value.isascii():
                raise NotEncodable("private creator not plain ASCII")
            text = value.decode("ascii").rstrip("\x00 ").strip()
            if text:
                found[(element.tag >> 16, element.tag & 0xFF)] = text
        return found


def _hidden_sequence(buf: bytes, element: EncodedElement) -> bool:
    """A value stored as UN (or in implicit VR, unknown) that is really a sequence."""
    if element.vr not in (None, "UN") or element.items is not None:
        return False
    return buf[element.start : element.start + 4] == _ITEM_TAG


def _ambiguous(tag: int) -> bool:
    return dictionary_has_tag(tag) and " or " in dictionary_VR(tag)
