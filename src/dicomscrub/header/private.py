"""Private elements: who owns them, and which are safe to keep.

A private element (odd group) ``(gggg,bbxx)`` belongs to the block ``bb`` reserved by the
private creator element ``(gggg,00bb)``; its meaning is fixed by the creator string and the
offset ``xx``, never by the raw element number (the block slot moves between files). The
Retain Safe Private option keeps only elements that are known to be safe: those on the
shipped allow-list (``data/safe_private.json``), those a profile file adds, and those the
instance itself declares non-identifying in its Private Data Element Characteristics
Sequence (0008,0300).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from pydicom.dataset import Dataset


@dataclass(frozen=True, slots=True)
class PrivateRef:
    """A private element by meaning: creator string, group and offset in the block."""

    creator: str
    group: int
    offset: int

    def __str__(self) -> str:
        return f'({self.group:04X},"{self.creator}",{self.offset:02X})'


def is_private_group(tag: int) -> bool:
    return bool((tag >> 16) & 1)


def is_creator_tag(tag: int) -> bool:
    """``(gggg,0010)``–``(gggg,00FF)`` in an odd group: a private creator element."""
    return is_private_group(tag) and 0x10 <= (tag & 0xFFFF) <= 0xFF


def private_ref(creators: dict[tuple[int, int], str], tag: int) -> PrivateRef | None:
    """The meaning of private ``tag`` given the dataset's creators, or ``None`` when its
    block has no creator (such an element can never be shown to be safe)."""
    group, element = tag >> 16, tag & 0xFFFF
    block = element >> 8
    creator = creators.get((group, block))
    if creator is None:
        return None
    return PrivateRef(creator, group, element & 0xFF)


def creators_of(ds: Dataset) -> dict[tuple[int, int], str]:
    """``{(group, block): creator string}`` for the private creators of one dataset level."""
    found: dict[tuple[int, int], str] = {}
    for tag in list(ds.keys()):  # keys only: iterating a Dataset loads every value
        value = int(tag)
        if not is_creator_tag(value):
            continue
        try:
            raw = ds[tag].value
        except Exception:
            continue
        if isinstance(raw, bytes):
            raw = raw.decode("latin-1", "replace")
        text = str(raw or "").strip()
        if text:
            found[(value >> 16, value & 0xFF)] = text
    return found


@functools.cache
def shipped_safe_list() -> frozenset[PrivateRef]:
    """The allow-list shipped with the package."""
    text = (
        resources.files("dicomscrub.header")
        .joinpath("data/safe_private.json")
        .read_text(encoding="utf-8")
    )
    return frozenset(
        PrivateRef(e["creator"], int(e["group"], 16), int(e["offset"], 16))
        for e in json.loads(text)["entries"]
    )


_BLOCK_SAFE = "SAFE"
_BLOCK_MIXED = "MIXED"


def declared_safe(ds: Dataset) -> tuple[frozenset[PrivateRef], frozenset[tuple[str, int]]]:
    """What the instance's Private Data Element Characteristics Sequence declares safe.

    Returns ``(elements, blocks)``: single elements listed as non-identifying in MIXED
    blocks, and ``(creator, group)`` of blocks whose status is SAFE.
    """
    elements: set[PrivateRef] = set()
    blocks: set[tuple[str, int]] = set()
    try:
        items = ds.get("PrivateDataElementCharacteristicsSequence") or []
    except Exception:
        return frozenset(), frozenset()
    for item in items:
        try:
            group = int(item.get("PrivateGroupReference", -1))
            creator = str(item.get("PrivateCreatorReference", "") or "").strip()
            status = str(item.get("BlockIdentifyingInformationStatus", "") or "").strip().upper()
            offsets = item.get("NonidentifyingPrivateElements")
        except Exception:
            continue
        if group < 0 or not creator:
            continue
        if status == _BLOCK_SAFE:
            blocks.add((creator, group))
        elif status == _BLOCK_MIXED and offsets is not None:
            values = offsets if isinstance(offsets, (list, tuple)) else [offsets]
            try:
                values = list(values)
            except TypeError:
                values = [offsets]
            elements.update(PrivateRef(creator, group, int(v) & 0xFF) for v in values)
    return frozenset(elements), frozenset(blocks)
