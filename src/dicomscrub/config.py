"""One typed, frozen configuration object shared by the CLI and the library API.

``DeidConfig`` is built from defaults, then command-line flags; the secret project key is
never part of it (the key file's *path* is, the key bytes are loaded by the worker).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomscrub.errors import ConfigError
from dicomscrub.header.options import DEFAULT_OPTIONS
from dicomscrub.header.overrides import Rule

#: Tesseract tuning of the original tool: upper-case letters, digits and date punctuation.
ORIGINAL_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/.-"


@dataclass(frozen=True, slots=True)
class HeaderConfig:
    """How headers are de-identified."""

    patient_prefix: str = "anon"
    key_file: Path | None = None  # default: <headers>/.dicomscrub.key
    date_shift_min_days: int = -3650
    date_shift_max_days: int = -365
    #: PS3.15 Annex E options applied (see :mod:`dicomscrub.header.options`).
    options: tuple[str, ...] = DEFAULT_OPTIONS
    #: Override rules from a profile file, first match wins.
    rules: tuple[Rule, ...] = ()
    profile_file: Path | None = None


#: The ``--redact`` policies.
REDACT_POLICIES = ("all-text", "phi")

#: The ``--analyzer`` choices: what decides whether a line of text is PHI.
ANALYZERS = ("builtin", "presidio")


@dataclass(frozen=True, slots=True)
class PixelConfig:
    """How burned-in text is searched for and redacted."""

    enabled: bool = True
    samples: int = 5
    top_ratio: float = 0.25
    bottom_ratio: float = 0.25
    left_ratio: float = 0.25
    right_ratio: float = 0.25
    padding_px: int = 8
    merge_iou: float = 0.2
    expand_px: int = 8
    ocr_engine: str = "rapidocr"
    #: What goes: every text line found in the searched area ("all-text"), or only the
    #: lines that hold PHI ("phi"; clinical annotations stay).
    redact: str = "all-text"
    #: What decides that a line holds PHI: the built-in rules ("builtin"), or those
    #: rules or Presidio's analyzer ("presidio", extra ``[presidio]``).
    analyzer: str = "builtin"
    #: Words that are never PHI by themselves, and words (or phrases) that always are;
    #: both matched case-insensitively, deny words also with a misread character or two.
    allow_text: tuple[str, ...] = ()
    deny_text: tuple[str, ...] = ()
    #: Search the whole frame under the ``redact`` policy, instead of the margins.
    full_frame: bool = False
    #: Leave the middle of the frame (what the margins do not cover) unsearched; by
    #: default it is searched under the ``phi`` policy.
    margins_only: bool = False
    #: Fit each line's box, grown by ``expand_px``, to the line's ink (strokes), so that
    #: what is erased around the text is little more than its glyphs; off: the whole
    #: grown box is filled, as the original tool did.
    fit_ink: bool = True
    #: After redaction, search the output's sampled frames again and fail the file if
    #: PHI text is still readable.
    second_look: bool = True
    #: A device templates file: files whose signature has a template get its boxes
    #: without reading text first (the second look stays the safety net).
    templates: Path | None = None
    tesseract_psm: int = 11
    tesseract_whitelist: str | None = None
    min_confidence: float = 0.0
    leaf_union: bool = True
    random_text: bool = False
    text_bold: bool = False

    def margin_ratios(self) -> tuple[float, float, float, float]:
        return (self.top_ratio, self.bottom_ratio, self.left_ratio, self.right_ratio)


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """How files are found and scheduled."""

    recursive: bool = True
    overwrite: bool = False
    jobs: int = 0  # 0 = all cores
    scheduler: str | None = None  # Dask scheduler address
    progress: bool = True


@dataclass(frozen=True, slots=True)
class OutputConfig:
    """Where results go."""

    input: Path = Path(".")
    output: Path = Path("out")
    headers: Path = Path("headers")
    pdf_report: Path | None = None
    thumbnail_px: int = 512


@dataclass(frozen=True, slots=True)
class DeidConfig:
    """Everything one run needs, except the secret key itself."""

    header: HeaderConfig = field(default_factory=HeaderConfig)
    pixels: PixelConfig = field(default_factory=PixelConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    @property
    def key_path(self) -> Path:
        """Where the project key lives: ``--key-file`` or beside the sidecars."""
        if self.header.key_file is not None:
            return self.header.key_file
        return self.output.headers / ".dicomscrub.key"

    def validate(self) -> DeidConfig:
        """Raise :class:`ConfigError` naming the first invalid setting; return ``self``."""
        p = self.pixels
        for name, value in zip(
            ("top-ratio", "bottom-ratio", "left-ratio", "right-ratio"),
            p.margin_ratios(),
            strict=True,
        ):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"--{name} must be between 0.0 and 1.0, got {value}")
        if p.redact not in REDACT_POLICIES:
            raise ConfigError(
                f"--redact must be one of {', '.join(REDACT_POLICIES)}, got {p.redact!r}"
            )
        if p.analyzer not in ANALYZERS:
            raise ConfigError(
                f"--analyzer must be one of {', '.join(ANALYZERS)}, got {p.analyzer!r}"
            )
        for flag, words in (("--allow-text", p.allow_text), ("--deny-text", p.deny_text)):
            if not all(any(c.isalnum() for c in w) for w in words):
                raise ConfigError(f"each {flag} entry needs at least one letter or digit")
        margins = any(r > 0 for r in p.margin_ratios())
        if p.enabled and p.margins_only and not p.full_frame and not margins:
            raise ConfigError(
                "all four margin ratios are 0 and --margins-only is given, so no text "
                "would be searched for; give a ratio above 0, or --no-pixels to skip the "
                "pixel step on purpose"
            )
        if not 0 <= p.tesseract_psm <= 13:
            raise ConfigError(f"--tesseract-psm must be 0 to 13, got {p.tesseract_psm}")
        if p.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {p.samples}")
        if p.padding_px < 0 or p.expand_px < 0:
            raise ConfigError("--padding and --expand must not be negative")
        if not 0.0 <= p.merge_iou <= 1.0:
            raise ConfigError(f"--merge-iou must be between 0.0 and 1.0, got {p.merge_iou}")
        if not 0.0 <= p.min_confidence <= 1.0:
            raise ConfigError("--min-confidence must be between 0.0 and 1.0")
        if self.batch.jobs < 0:
            raise ConfigError(f"--jobs must be 0 (all cores) or more, got {self.batch.jobs}")
        h = self.header
        if not h.patient_prefix or not all(c.isalnum() or c in "_-" for c in h.patient_prefix):
            raise ConfigError("--patient-prefix must be non-empty letters, digits, '_' or '-'")
        if h.date_shift_min_days > h.date_shift_max_days:
            raise ConfigError("date shift range is empty (min > max)")
        if h.date_shift_min_days <= 0 <= h.date_shift_max_days:
            raise ConfigError(
                "the date shift range must not include 0 (some patients would keep their real "
                "dates); use retain_long_full_dates to keep dates on purpose"
            )
        o = self.output
        out, inp = o.output.resolve(), o.input.resolve()
        if out == inp or (inp.is_dir() and out.is_relative_to(inp)):
            raise ConfigError("--output must not be the input folder or inside it")
        if not inp.is_dir() and out == inp.parent:
            raise ConfigError("--output must not be the folder of the --input file")
        if inp.is_relative_to(out):
            raise ConfigError("--input must not be inside --output (originals would be released)")
        if inp.is_dir() and o.headers.resolve().is_relative_to(inp):
            raise ConfigError("--headers must not be inside --input (it would be read as input)")
        private = {"--headers": o.headers, "--key-file": self.key_path}
        if o.pdf_report is not None:
            private["--pdf-report"] = o.pdf_report
        for flag, path in private.items():
            if path.resolve().is_relative_to(out):
                raise ConfigError(f"{flag} must not be inside --output (it is private)")
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (paths as strings). Holds no secret."""

        def conv(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [conv(v) for v in value]
            if value is None or isinstance(value, (str, int, float, bool)):
                return value
            return str(value)  # paths, compiled patterns

        return {k: conv(v) for k, v in dataclasses.asdict(self).items()}
