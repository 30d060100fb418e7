"""Deterministic replacement values derived from the project key."""

from __future__ import annotations

import base64

from pydicom._uid_dict import UID_dictionary

from dicomscrub.header.keys import ProjectKey

#: UID keywords whose values name a class, syntax or scheme, never an instance.
NEVER_REMAP_KEYWORDS = frozenset(
    {
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "PrivateInformationCreatorUID",
        "MappingResourceUID",
        "ContextUID",
    }
)


def is_well_known_uid(value: str) -> bool:
    """True for UIDs the standard defines (SOP classes, syntaxes, coding schemes...)."""
    return value in UID_dictionary


def keeps_uid(keyword: str, value: str) -> bool:
    """True when a UI value must pass through unchanged."""
    return (
        keyword.endswith("ClassUID") or keyword in NEVER_REMAP_KEYWORDS or is_well_known_uid(value)
    )


_UID_CACHE_SIZE = 200_000


class Pseudonymizer:
    """Keyed, deterministic pseudonyms, UIDs and date offsets for one project key."""

    def __init__(self, key: ProjectKey, prefix: str, shift_range_days: tuple[int, int]) -> None:
        self._key = key
        self._prefix = prefix
        self._shift_lo, self._shift_hi = shift_range_days
        self._uids: dict[str, str] = {}
        self._identifiers: dict[str, str] = {}

    @property
    def prefix(self) -> str:
        return self._prefix

    def patient(self, identity: str) -> str:
        """``<prefix>_<10 base32 chars>`` for a patient identity (ID, else name)."""
        token = base64.b32encode(self._key.digest("patient", identity)[:10]).decode("ascii")
        return f"{self._prefix}_{token[:10]}"

    def token(self, label: str, value: str, length: int = 10) -> str:
        """A short keyed token for ``value`` (folder names, other identifiers)."""
        raw = base64.b32encode(self._key.digest(label, value)[:10]).decode("ascii")
        return raw[:length]

    def identifier(self, value: str) -> str:
        """A 12-character keyed token for an identifier (accession number, study ID...).

        One namespace for all identifier kinds, so the same accession number written in
        the top level and inside a request sequence maps to the same token.
        """
        text = value.strip()
        cached = self._identifiers.get(text)
        if cached is None:  # the files of one study repeat its accession number and IDs
            if len(self._identifiers) >= _UID_CACHE_SIZE:
                self._identifiers.clear()
            cached = self._identifiers[text] = self.token("identifier", text, 12)
        return cached

    def uid(self, original: str) -> str:
        """``2.25.<128-bit integer>`` derived from the original UID (same in, same out)."""
        cached = self._uids.get(original)
        if cached is None:
            if len(self._uids) >= _UID_CACHE_SIZE:
                self._uids.clear()  # a long-lived worker must not grow without bound
            number = int.from_bytes(self._key.digest("uid", original.strip())[:16], "big")
            cached = f"2.25.{number}"
            self._uids[original] = cached
        return cached

    def date_offset_days(self, identity: str) -> int:
        """The patient's date shift in days, inside the configured range."""
        span = self._shift_hi - self._shift_lo + 1
        value = int.from_bytes(self._key.digest("dateshift", identity)[:8], "big")
        return self._shift_lo + value % span
