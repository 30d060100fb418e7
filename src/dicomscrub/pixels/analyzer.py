"""The PHI decision for one line of burned-in text, behind one small interface.

Text detection finds the lines; an analyzer only decides which of them hold PHI, and
the line's detected box is what goes. ``builtin`` is :class:`PhiMatcher` (header values,
dates, IDs, phone numbers, labels, the user's allow and deny lists); ``presidio`` asks
Presidio's analyzer as well, for lines the built-in rules let pass (extra
``[presidio]``; see :mod:`dicomscrub.pixels.presidio_analyzer`, the only module that
imports it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from dicomscrub.config import ANALYZERS, PixelConfig
from dicomscrub.errors import ConfigError
from dicomscrub.pixels import presidio_analyzer
from dicomscrub.pixels.ocr.base import OcrWord
from dicomscrub.pixels.phi_policy import PhiMatcher


class LineAnalyzer(Protocol):
    """Decides whether one line of recognised words holds PHI."""

    def judge_line(self, words: Sequence[OcrWord]) -> str | None:
        """The name of the rule that makes the line of OCR words PHI, or ``None`` to keep
        it (an analyzer may give weakly read words less weight)."""
        ...

    def line_rule(self, words: Iterable[str]) -> str | None:
        """The same decision for words read with full confidence."""
        ...


def check_analyzer(config: PixelConfig) -> None:
    """Load what ``config.analyzer`` needs now, so a missing package or model stops the
    run before any file is read (:class:`EngineUnavailableError` naming the fix)."""
    if config.analyzer == "presidio":
        presidio_analyzer.load()
    elif config.analyzer not in ANALYZERS:
        raise ConfigError(f"unknown analyzer {config.analyzer!r}; known: {', '.join(ANALYZERS)}")


def line_analyzer(config: PixelConfig, matcher: PhiMatcher) -> LineAnalyzer:
    """The analyzer named by ``config.analyzer`` for one file.

    ``matcher`` holds that file's header terms; the configured allow and deny lists are
    added here.
    """
    matcher = matcher.with_lists(config.allow_text, config.deny_text)
    if config.analyzer == "builtin":
        return matcher
    if config.analyzer == "presidio":
        return presidio_analyzer.PresidioAnalyzer(matcher)
    raise ConfigError(f"unknown analyzer {config.analyzer!r}; known: {', '.join(ANALYZERS)}")
