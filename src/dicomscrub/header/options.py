"""The options of the PS3.15 Annex E confidentiality profile, by the names users type.

Each option has a CID 7050 code written into DeidentificationMethodCodeSequence when it is
applied, and (for the ten with a column in Table E.1-1) the column that changes actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dicomscrub.errors import ConfigError


@dataclass(frozen=True, slots=True)
class OptionInfo:
    """One profile option: its CLI name, CID 7050 code and meaning, and what it does."""

    name: str
    code: str
    meaning: str
    summary: str


#: Every option, in the order their codes are written (113100, the basic profile, is first).
OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo("clean_pixel_data", "113101", "Clean Pixel Data Option",
               "remove burned-in text from pixel data (the pixel pipeline)"),
    OptionInfo("clean_recognizable_visual_features", "113102",
               "Clean Recognizable Visual Features Option",
               "declare recognisable features removed (flag only: no defacing in this release)"),
    OptionInfo("clean_graphics", "113103", "Clean Graphics Option",
               "clean text in graphic annotations instead of removing them"),
    OptionInfo("clean_structured_content", "113104", "Clean Structured Content Option",
               "clean SR content and acquisition context instead of removing them"),
    OptionInfo("clean_descriptors", "113105", "Clean Descriptors Option",
               "keep descriptions and comments with identifying text taken out"),
    OptionInfo("retain_long_full_dates", "113106",
               "Retain Longitudinal Temporal Information Full Dates Option",
               "keep dates and times unchanged"),
    OptionInfo("retain_long_modified_dates", "113107",
               "Retain Longitudinal Temporal Information Modified Dates Option",
               "shift dates by one keyed offset per patient (intervals kept)"),
    OptionInfo("retain_patient_characteristics", "113108",
               "Retain Patient Characteristics Option",
               "keep sex, age, size, weight and similar characteristics"),
    OptionInfo("retain_device_identity", "113109", "Retain Device Identity Option",
               "keep device serial numbers, station names and similar"),
    OptionInfo("retain_uids", "113110", "Retain UIDs Option", "keep UIDs unchanged"),
    OptionInfo("retain_safe_private", "113111", "Retain Safe Private Option",
               "keep private elements known to be safe (allow-list, 0008,0300)"),
    OptionInfo("retain_institution_identity", "113112", "Retain Institution Identity Option",
               "keep institution names, addresses and departments"),
)  # fmt: skip

BY_NAME = {o.name: o for o in OPTIONS}
OPTION_NAMES = tuple(o.name for o in OPTIONS)

#: The basic profile's own code; always written first.
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")

#: What a run applies when nothing else is said.
DEFAULT_OPTIONS = ("clean_pixel_data", "clean_descriptors", "retain_long_modified_dates")

_EXCLUSIVE = ("retain_long_full_dates", "retain_long_modified_dates")


def resolve_options(
    base: Iterable[str] | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> tuple[str, ...]:
    """The selected options: ``base`` (default: :data:`DEFAULT_OPTIONS`) plus ``add`` minus
    ``remove``, in table order. Unknown names and contradictory choices raise ConfigError.

    Asking for full dates drops the default modified dates (they cannot both apply).
    """
    base_list = list(DEFAULT_OPTIONS if base is None else base)
    add_list, remove_list = list(add), list(remove)
    for name in (*base_list, *add_list, *remove_list):
        if name not in BY_NAME:
            raise ConfigError(
                f"unknown profile option {name!r}; choose from: {', '.join(OPTION_NAMES)}"
            )
    chosen = set(base_list) | set(add_list)
    if "retain_long_full_dates" in add_list and "retain_long_modified_dates" not in add_list:
        chosen.discard("retain_long_modified_dates")
    chosen -= set(remove_list)
    if all(name in chosen for name in _EXCLUSIVE):
        raise ConfigError(
            "retain_long_full_dates and retain_long_modified_dates exclude each other"
        )
    return tuple(name for name in OPTION_NAMES if name in chosen)
