"""Declarative profile files: options, date shift range and per-element override rules.

A profile file is TOML (``.toml``) or YAML (``.yaml``/``.yml``, needs PyYAML)::

    options = ["clean_descriptors", "retain_long_modified_dates", "retain_device_identity"]
    date_shift_days = [-3650, -365]

    [pixels]                              # how burned-in text is judged (--redact phi)
    analyzer = "builtin"                  # or "presidio" (extra [presidio])
    allow_text = ["LIVER", "Gen THI"]     # words never PHI by themselves
    deny_text = ["St Elsewhere"]          # words and phrases always PHI

    [[rules]]
    keyword = "StudyDescription"          # or tag = "(0008,1030)"
    action = "keep"

    [[rules]]
    private = { creator = "ACME 1.1", group = "0009", offset = "01" }
    action = "keep"

    [[rules]]
    path = "RequestAttributesSequence/RequestedProcedureDescription"
    action = "regex"
    pattern = "(?i)\\\\bdr\\\\.? \\\\w+"
    replacement = "***"

Each rule has exactly one selector (``keyword``, ``tag``, ``private`` or ``path``) and an
``action``: ``keep``, ``remove``, ``empty``, ``clean``, ``replace`` (with ``value``) or
``regex`` (with ``pattern`` and ``replacement``). The first matching rule wins and comes
before the table. A ``path`` is ``/``-separated keywords or tags from the top level down
to the element (item numbers left out); ``*`` stands for any one sequence.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomscrub.errors import ConfigError
from dicomscrub.header.private import PrivateRef

ACTIONS = ("keep", "remove", "empty", "clean", "replace", "regex")
_TAG_RE = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,?\s*([0-9A-Fa-f]{4})\s*\)?$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One override: a selector and what to do with the elements it selects."""

    index: int
    action: str
    tag: int | None = None
    private: PrivateRef | None = None
    path: tuple[str, ...] = ()
    value: str = ""
    pattern: re.Pattern[str] | None = None
    replacement: str = ""

    @property
    def label(self) -> str:
        if self.path:
            return f"override rule {self.index} (path {'/'.join(self.path)})"
        if self.private is not None:
            return f"override rule {self.index} (private {self.private})"
        return f"override rule {self.index} (tag {self.tag:08X})" if self.tag is not None else ""

    def matches(self, tag: int, path: tuple[str, ...], private: PrivateRef | None) -> bool:
        """``path`` is the element's own path: sequence names from the top, then itself."""
        if self.path:
            return len(self.path) == len(path) and all(
                want in ("*", have) for want, have in zip(self.path, path, strict=True)
            )
        if self.private is not None:
            return private == self.private
        return tag == self.tag


@dataclass(frozen=True, slots=True)
class PixelSettings:
    """The ``[pixels]`` table of a profile file; ``None`` when not given."""

    analyzer: str | None = None
    allow_text: tuple[str, ...] = ()
    deny_text: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProfileFile:
    """What a profile file says; ``None`` fields were not given."""

    options: tuple[str, ...] | None
    date_shift_days: tuple[int, int] | None
    rules: tuple[Rule, ...]
    pixels: PixelSettings = field(default_factory=PixelSettings)


def parse_tag(text: str) -> int:
    """``(0008,1030)``, ``0008,1030`` or ``00081030`` as an int; ConfigError otherwise."""
    match = _TAG_RE.match(str(text).strip())
    if match is None:
        raise ConfigError(f"not a tag: {text!r} (write it as (gggg,eeee))")
    return int(match.group(1) + match.group(2), 16)


def path_component(tag: int, keyword: str) -> str:
    """How one level of an element path is written: its keyword, else its tag."""
    return keyword or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _normalise_component(text: str) -> str:
    text = text.strip()
    if text == "*" or _TAG_RE.match(text) is None:
        return text
    value = parse_tag(text)
    return f"({value >> 16:04X},{value & 0xFFFF:04X})"


def _parse_rule(index: int, raw: Mapping[str, Any]) -> Rule:
    where = f"profile rule {index}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of settings")
    selectors = [k for k in ("keyword", "tag", "private", "path") if k in raw]
    if len(selectors) != 1:
        raise ConfigError(f"{where} needs exactly one of keyword, tag, private or path")
    action = str(raw.get("action", "")).lower()
    if action not in ACTIONS:
        raise ConfigError(f"{where}: action must be one of {', '.join(ACTIONS)}")
    unknown = set(raw) - {"keyword", "tag", "private", "path", "action", "value", "pattern",
                          "replacement", "note"}  # fmt: skip
    if unknown:
        raise ConfigError(f"{where}: unknown settings {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {"index": index, "action": action}
    kind = selectors[0]
    if kind == "keyword":
        tag = tag_for_keyword(str(raw["keyword"]))
        if tag is None:
            raise ConfigError(f"{where}: {raw['keyword']!r} is not a DICOM keyword")
        kwargs["tag"] = tag
    elif kind == "tag":
        kwargs["tag"] = parse_tag(str(raw["tag"]))
    elif kind == "private":
        spec = raw["private"]
        try:
            kwargs["private"] = PrivateRef(
                str(spec["creator"]).strip(), int(str(spec["group"]), 16),
                int(str(spec["offset"]), 16) & 0xFF,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where}: private needs creator, group (hex) and offset (hex)"
            ) from exc
        if not kwargs["private"].group & 1:
            raise ConfigError(f"{where}: a private group is odd")
    else:
        parts = tuple(_normalise_component(p) for p in str(raw["path"]).split("/") if p.strip())
        if not parts:
            raise ConfigError(f"{where}: empty path")
        kwargs["path"] = parts
    tag = kwargs.get("tag")
    if tag is not None and action in ("replace", "regex", "clean"):
        try:
            is_sequence = dictionary_VR(tag) == "SQ"
        except KeyError:
            is_sequence = False
        if is_sequence:
            raise ConfigError(f"{where}: {action} cannot apply to a sequence; use keep or remove")
    if action == "replace":
        if "value" not in raw:
            raise ConfigError(f"{where}: replace needs a value")
        kwargs["value"] = str(raw["value"])
    if action == "regex":
        try:
            kwargs["pattern"] = re.compile(str(raw["pattern"]))
        except (KeyError, re.error) as exc:
            raise ConfigError(f"{where}: regex needs a valid pattern ({exc})") from exc
        kwargs["replacement"] = str(raw.get("replacement", ""))
    return Rule(**kwargs)


def parse_profile(data: Mapping[str, Any], source: str = "profile") -> ProfileFile:
    """Validate the contents of a profile file."""
    known = {"options", "date_shift_days", "rules", "pixels", "about", "note"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{source}: unknown settings {', '.join(sorted(unknown))}")
    options = data.get("options")
    if options is not None and (not isinstance(options, Sequence) or isinstance(options, str)):
        raise ConfigError(f"{source}: options must be a list of option names")
    shift = data.get("date_shift_days")
    if shift is not None:
        if not isinstance(shift, Sequence) or len(shift) != 2:
            raise ConfigError(f"{source}: date_shift_days must be [min, max]")
        shift = (int(shift[0]), int(shift[1]))
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, Sequence):
        raise ConfigError(f"{source}: rules must be a list")
    rules = tuple(_parse_rule(i, r) for i, r in enumerate(raw_rules, 1))
    return ProfileFile(
        options=None if options is None else tuple(str(o) for o in options),
        date_shift_days=shift,
        rules=rules,
        pixels=_parse_pixels(data.get("pixels") or {}, source),
    )


def _parse_pixels(raw: Any, source: str) -> PixelSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: pixels must be a table of settings")
    unknown = set(raw) - {"analyzer", "allow_text", "deny_text", "note"}
    if unknown:
        raise ConfigError(f"{source}: unknown pixels settings {', '.join(sorted(unknown))}")
    lists = {}
    for key in ("allow_text", "deny_text"):
        words = raw.get(key, [])
        if not isinstance(words, Sequence) or isinstance(words, str):
            raise ConfigError(f"{source}: pixels.{key} must be a list of words")
        lists[key] = tuple(str(w) for w in words)
    analyzer = raw.get("analyzer")
    return PixelSettings(
        analyzer=None if analyzer is None else str(analyzer),
        allow_text=lists["allow_text"],
        deny_text=lists["deny_text"],
    )


def load_profile(path: Path) -> ProfileFile:
    """Read and validate a TOML or YAML profile file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read profile file {path}: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"profile file {path}: {exc}") from exc
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise ConfigError(
                "YAML profile files need PyYAML: pip install 'dicomscrub[yaml]' (or use TOML)"
            ) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"profile file {path}: {exc}") from exc
    else:
        raise ConfigError(f"profile file {path}: use a .toml, .yaml or .yml file")
    if not isinstance(data, Mapping):
        raise ConfigError(f"profile file {path}: expected a table of settings at the top")
    return parse_profile(data, str(path))
