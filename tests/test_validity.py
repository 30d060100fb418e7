"""De-identified output stays valid DICOM: ``dciodvfy`` finds no error the input did not have.

``dciodvfy`` (Debian package dicom3tools) checks a file against its IOD: missing Type 1/2
attributes, empty Type 1 attributes, values invalid for their VR, VM, enumerated values.
Every real file is validated before and after de-identification; the multiset of the
output's error messages, normalised so that values do not matter (dates are shifted, UIDs
remapped, names replaced), must be contained in the input's. Two faults count as one
either way: a Type 1 attribute missing or empty, and an element whose value is invalid for
its VR (the reason may change with the value). Inputs dciodvfy cannot read as they are
(no file meta, odd private elements, 32-bit pixel data it aborts on) are compared as
pydicom writes them back; see ``LEVELS``.

Messages never carry values (no PHI in test output): a normalised message keeps the error
kind, the tag or the attribute and module names, and drops every value.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomscrub.cli import main

DCIODVFY = shutil.which("dciodvfy")

needs_dciodvfy = pytest.mark.skipif(
    DCIODVFY is None,
    reason="dciodvfy not installed (Debian/Ubuntu: apt-get install dicom3tools)",
)

#: Real files de-identified with pixels (redacted by the fake ``ink`` OCR engine, which
#: reads every text line as PHI, so pixel data is rewritten): burned-in text, every
#: compressed transfer syntax the writer re-encodes, multi-frame, big endian, colour.
PIXEL_SUBSET = (
    "deid-data/ultrasounds/GREYSCALE_IMAGE.dcm",
    "presidio/integration/resources/dir1/dir2/2_ORIGINAL.dcm",
    "pydicom-bundled/test_files/GDCMJ2K_TextGBR.dcm",
    "pydicom-bundled/test_files/examples_ybr_color.dcm",
    "pydicom-bundled/test_files/examples_palette.dcm",
    "pydicom-data/OBXXXX1A_rle_2frame.dcm",
    "pydicom-data/gdcm-US-ALOKA-16_big.dcm",
    "pydicom-data/emri_small_jpeg_ls_lossless.dcm",
    "pydicom-data/US1_J2KI.dcm",
    "pylibjpeg-data/JPEGExtended/JPEGExtended_3s_1f_u_08_08.dcm",
    "pylibjpeg-data/JPEGLosslessSV1/JPEGLosslessP14SV1_3s_2f_u_08_08.dcm",
    "pydicom-data/liver_expb.dcm",  # 1-bit segmentation, big endian
    "pydicom-bundled/test_files/SC_rgb_rle_32bit_2frame.dcm",  # 32 bits: dciodvfy aborts
)

# ---------------------------------------------------------------------------------------
# Parsing and normalising dciodvfy's report
# ---------------------------------------------------------------------------------------

_TAG = r"\(0x[0-9a-fA-F]{4},0x[0-9a-fA-F]{4}\)"
#: A message line: ``Error - ...``, or ``(gggg,eeee) VR Name [-] Error - ...`` when the
#: message is about one element as it is read.
_MESSAGE = re.compile(
    rf"^(?:(?P<tag>{_TAG})\S*(?:\s.*?)??\s+-?\s*)?(?P<level>Error|Warning|Abort) - (?P<text>.*)$"
)
#: The IOD name line (``CTImage``) between the dataset-level and the module checks.
_IOD_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
#: ``<...>`` after these words names an attribute, a module or a VR, never a value.
_NAME_BEFORE = re.compile(r"(?:Element=|Module=|attribute |Explicit |with |Dictionary )$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 '/()-]*$")
_NUMBER = re.compile(r"(?<![\w.(])(?<!Type )(?<!value )(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)*)(?![\w.])")
_VALUE_INVALID_TAG = re.compile(rf"^Error - Value invalid for this VR - (?P<tag>{_TAG})")
_VALUE_INVALID = re.compile(rf"^Value invalid for this VR - (?P<tag>{_TAG})(?P<rest>.*)$", re.S)
#: Messages after which dciodvfy has not checked the whole file.
_INCOMPLETE = (
    "read failed",
    "Tags out of order",
    "dciodvfy crashed",
    "dciodvfy timed out",
    "Abort - ",
)


def _angle(match: re.Match[str]) -> str:
    """Keep ``<Name>`` where it names an attribute, module or VR; drop it as a value."""
    before = match.string[max(0, match.start() - 12) : match.start()]
    inner = match.group(1)
    if _NAME_BEFORE.search(before) and _NAME.match(inner):
        return match.group(0)
    return "<…>"


def _numbers(text: str) -> str:
    """Drop numbers in value positions; keep tags, ``Type 1C``, ``value 2`` (an index) and
    ``(1-n Required ...)``."""
    pieces = re.split(rf"({_TAG})", text)
    return "".join(p if re.fullmatch(_TAG, p) else _NUMBER.sub("…", p) for p in pieces)


def normalise(text: str) -> str:
    """One message without its values, e.g. ``Error - Missing attribute Type 2 Required
    Element=<PatientID> Module=<Patient>`` or ``Error - Value invalid for this VR -
    (0x0008,0x0020) - Character invalid for this VR``.

    ``text`` starts at the level (``Error - ...``); continuation lines (a value with line
    breaks) follow after newlines.
    """
    level, _, body = text.partition(" - ")
    invalid = _VALUE_INVALID.match(body)
    if invalid:
        # "... (tag) VR Name  VR [1] = <value> - Reason = 'x' (0x78)": keep tag and reason.
        _, sep, reason = invalid["rest"].rpartition(" - ")
        if sep and re.match(r"[A-Z][a-z]", reason) and "\n" not in reason:
            reason = re.sub(r"\s*=.*$", "", reason)
        else:
            reason = "(no reason given)"
        return f"{level} - Value invalid for this VR - {invalid['tag']} - {reason}"
    body = re.sub(r'"[^"]*"', '"…"', body)
    body = re.sub(r"<([^<>]*)>", _angle, body)
    body = re.sub(r"<[^<>]*$", "<…", body)  # a value whose line break hides the ">"
    body = re.sub(r"(values are|ReferencedSOPInstanceUID) .*$", r"\1 …", body, flags=re.S)
    body = " ".join(_numbers(body).split())
    return f"{level} - {body}"


@dataclass
class Report:
    """What ``dciodvfy`` said about one file."""

    iod: str | None = None
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def crashed(self) -> bool:
        """True when dciodvfy aborted (it does on some valid files, e.g. 32-bit OW)."""
        return any("dciodvfy crashed" in e for e in self.errors)

    @property
    def complete(self) -> bool:
        """False when dciodvfy could not read or check the whole file."""
        return not any(marker in e for e in self.errors for marker in _INCOMPLETE)


def parse(output: str, returncode: int) -> Report:
    """Normalised error messages (``Error`` and ``Abort``; warnings are ignored)."""
    report = Report()
    current: list[str] | None = None
    messages: list[list[str]] = []
    for line in output.splitlines():
        found = _MESSAGE.match(line)
        if found:
            current = [f"{found['level']} - {found['text']}"]
            if found["tag"]:
                current[0] += f" - at {found['tag']}"
            if found["level"] != "Warning":
                messages.append(current)
        elif _IOD_LINE.match(line):
            report.iod = report.iod or line
            current = None
        elif current is not None:
            current.append(line)
    report.errors.update(normalise("\n".join(m)) for m in messages)
    if returncode < 0 or returncode > 1:
        report.errors[f"Error - dciodvfy crashed (exit status {returncode})"] += 1
    return report


def validate(path: Path) -> Report:
    """Run ``dciodvfy`` on one file."""
    assert DCIODVFY is not None
    try:
        done = subprocess.run([DCIODVFY, str(path)], capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return Report(errors=Counter({"Error - dciodvfy timed out": 1}))
    output = (done.stdout + done.stderr).decode("latin-1")
    return parse(output, done.returncode)


def rewrite(path: Path, scratch: Path, *, private: bool, pixels: bool) -> Path | None:
    """``path`` as pydicom reads it, written back as a file with file meta information
    (without private elements or pixel data when ``private`` or ``pixels`` is false), for
    files dciodvfy cannot check as they are. None when pydicom cannot write it."""
    try:
        ds = pydicom.dcmread(path, force=True)
        meta = ds.get("file_meta") or FileMetaDataset()
        if "TransferSyntaxUID" not in meta:
            implicit = ds.original_encoding[0] is not False
            meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        ds.file_meta = meta
        if not private:
            ds.remove_private_tags()
        if not pixels:
            for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
                ds.pop(keyword, None)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(scratch, enforce_file_format=True)
    except (InvalidDicomError, AttributeError, ValueError, TypeError, OSError, EOFError):
        return None
    return scratch


#: How a file is checked, from the most faithful: as it is, written back by pydicom,
#: without private elements (some stop dciodvfy reading), without pixel data (dciodvfy
#: aborts on some 32-bit pixel data). Each level is ``(private, pixels)`` kept or not.
LEVELS: tuple[tuple[bool, bool] | None, ...] = (None, (True, True), (False, True), (False, False))


def validate_at(path: Path, level: int, scratch: Path) -> Report | None:
    """``path`` checked at one of the ``LEVELS``; None when it cannot be rewritten."""
    keep = LEVELS[level]
    if keep is None:
        return validate(path)
    copy = rewrite(path, scratch, private=keep[0], pixels=keep[1])
    return None if copy is None else validate(copy)


def compare(source: Path, output: Path, scratch: Path) -> tuple[Report, list[str]] | None:
    """The output's report and its normalised errors that the source does not have (a
    multiset difference); None when dciodvfy cannot check the source completely at any
    of the ``LEVELS``.

    The source counts as having every error dciodvfy reports at the levels up to the first
    it completes (what it found before giving up is still the source's). The output is
    checked as it is; only when dciodvfy crashes on it (a dciodvfy bug, e.g. 32-bit native
    pixel data), or gives up on it as on the source, is it checked at the first level from
    the source's on that dciodvfy completes; the source is then taken to that level too.
    """
    inputs: list[Report] = []
    for level in range(len(LEVELS)):
        report = validate_at(source, level, scratch / f"in{level}.dcm")
        inputs += [report] if report is not None else []
        if report is not None and report.complete:
            break
    else:
        return None
    after = validate(output)
    if not after.complete and (after.crashed or level > 0):
        for out_level in range(max(level, 1), len(LEVELS)):
            again = validate_at(output, out_level, scratch / f"out{out_level}.dcm")
            if again is not None and again.complete:
                after = again
                for extra in range(level + 1, out_level + 1):
                    report = validate_at(source, extra, scratch / f"in{extra}.dcm")
                    inputs += [report] if report is not None else []
                break
    before = Counter[str]()
    for report in inputs:
        before |= report.errors
    added = subtract(after.errors, before)
    if after.iod != inputs[-1].iod:
        added.append(f"Error - IOD changed from {inputs[-1].iod} to {after.iod}")
    return after, added


def _same_fault(message: str) -> str:
    """A Type 1 attribute missing or present without a value is one fault: an output that
    writes empty what its input lacked (or the reverse) adds no error."""
    return re.sub(
        r"^Error - (?:Missing attribute|Empty attribute \(no value\)) (Type 1C? )",
        r"Error - Missing or empty attribute \1",
        message,
    )


def subtract(after: Counter[str], before: Counter[str]) -> list[str]:
    """The messages of ``after`` that ``before`` does not have, counting repeats.

    An element whose value was already invalid for its VR before may be invalid in another
    way after (a shifted date, an odd length padded): only the first invalid value of an
    element is an added error.
    """
    spare = Counter(_same_fault(m) for m in before.elements())
    invalid = {m["tag"] for m in map(_VALUE_INVALID_TAG.match, before) if m}
    added = []
    for message in sorted(after.elements()):
        tag = _VALUE_INVALID_TAG.match(message)
        if spare[_same_fault(message)] > 0:
            spare[_same_fault(message)] -= 1
        elif tag is None or tag["tag"] not in invalid:
            added.append(message)
    return added


@dataclass
class Comparison:
    """New errors per output (by relative path) and the files that could not be compared."""

    new: dict[str, list[str]] = field(default_factory=dict)
    not_comparable: list[str] = field(default_factory=list)
    iods: dict[str, str] = field(default_factory=dict)

    @property
    def compared(self) -> int:
        return len(self.iods)


def new_errors(pairs: Mapping[str, tuple[Path, Path]], scratch: Path) -> Comparison:
    """Compare each ``(source, output)`` pair, keyed by the source's relative path."""
    result = Comparison()
    for rel, (source, output) in sorted(pairs.items()):
        compared = compare(source, output, scratch / rel)
        if compared is None:
            result.not_comparable.append(rel)
            continue
        after, added = compared
        result.iods[rel] = after.iod or "?"
        if added:
            result.new[rel] = added
    return result


def describe(new: Mapping[str, Iterable[str]]) -> str:
    """Failure text: relative paths and normalised messages (of de-identified outputs, and
    without values in any case), repeats counted."""
    lines = []
    for rel, errors in sorted(new.items()):
        lines.append(rel)
        lines += [f"    {e}" + (f"  (x{n})" if n > 1 else "") for e, n in Counter(errors).items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Running the tool
# ---------------------------------------------------------------------------------------


def deidentify(
    input_path: Path, root: Path, tmp: Path, *extra: str
) -> dict[str, tuple[Path, Path]]:
    """Run ``dicomscrub run`` in-process; map each output, by its source's path relative to
    ``root``, to ``(source, output)`` through the ``*_bboxes.json`` sidecars."""
    code = main(["run", "--input", str(input_path), "--output", str(tmp / "out"),
                 "--headers", str(tmp / "hdr"), "--no-progress", *extra])  # fmt: skip
    assert code in (0, 1), code
    pairs: dict[str, tuple[Path, Path]] = {}
    for side in (tmp / "hdr").rglob("*_bboxes.json"):
        data = json.loads(side.read_text())
        source, output = Path(data["source"]), Path(data["output"])
        pairs[source.relative_to(root).as_posix()] = (source, output)
    return pairs


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


def test_normalised_messages_carry_no_values() -> None:
    out = "\n".join([
        "Error - Missing attribute Type 2 Required Element=<PatientID> Module=<Patient>",
        "Error - Value invalid for this VR - (0x0008,0x0020) DA Study Date  DA [1] = "
        "<2001.01.01> - Character invalid for this VR = '.' (0x2e)",
        "Error - StudyInstanceUID has same value as FrameOfReferenceUID <1.2.3.4>",
        "Error - Unrecognized enumerated value <NOPE> for value 1 of attribute <Laterality>",
        "Error - Illegal root for UID - \"9.99.999\" in (0x0020,0x000d) Study Instance UID",
        "(0x0011,0x0010) LO PrivateCreator  - Error - Private creator is not LO VR; "
        "Explicit <OB> Overriding VR with <LO>",
        "Warning - Value dubious for this VR - (0x0010,0x0010) PN Patient's Name  PN [1] = <X>",
        "CTImage",
        "Error - Empty attribute (no value) Type 1C Conditional Element=<Rows> Module=<Image>",
    ])  # fmt: skip
    report = parse(out, 1)
    assert report.iod == "CTImage"
    assert sorted(report.errors) == sorted([
        "Error - Missing attribute Type 2 Required Element=<PatientID> Module=<Patient>",
        "Error - Value invalid for this VR - (0x0008,0x0020) - Character invalid for this VR",
        "Error - StudyInstanceUID has same value as FrameOfReferenceUID <…>",
        "Error - Unrecognized enumerated value <…> for value 1 of attribute <Laterality>",
        "Error - Illegal root for UID - \"…\" in (0x0020,0x000d) Study Instance UID",
        "Error - Private creator is not LO VR; Explicit <OB> Overriding VR with <LO> "
        "- at (0x0011,0x0010)",
        "Error - Empty attribute (no value) Type 1C Conditional Element=<Rows> Module=<Image>",
    ])  # fmt: skip
    # The same error about a different value compares equal.
    other = parse(out.replace("2001.01.01", "1999.12.31").replace("1.2.3.4", "2.25.7"), 1)
    assert other.errors == report.errors
    assert parse("", -6).complete is False


def test_only_faults_the_input_lacks_are_new() -> None:
    missing = "Error - Missing attribute Type 1 Required Element=<Rows> Module=<ImagePixel>"
    empty = "Error - Empty attribute (no value) Type 1 Required Element=<Rows> Module=<ImagePixel>"
    type2 = "Error - Missing attribute Type 2 Required Element=<PatientID> Module=<Patient>"
    date = "Error - Value invalid for this VR - (0x0008,0x0020) - "
    assert subtract(Counter([empty, type2]), Counter([missing])) == [type2]
    assert subtract(Counter([type2, type2]), Counter([type2])) == [type2]
    # A date already invalid in the input stays invalid in another way: not new.
    before = Counter([date + "Character invalid for this VR"])
    assert subtract(Counter([date + "Length invalid for this VR"]), before) == []
    assert subtract(before, Counter()) == [date + "Character invalid for this VR"]


def _variant(source: Path, tmp: Path, name: str, change: Callable[[Dataset], object]) -> list[str]:
    """The errors ``compare`` finds in a copy of ``source`` changed by ``change``."""
    ds = pydicom.dcmread(source)
    change(ds)
    ds.save_as(tmp / f"{name}.dcm")
    compared = compare(source, tmp / f"{name}.dcm", tmp / name)
    assert compared is not None
    return compared[1]


def _pseudonymise(ds: Dataset) -> None:
    """What de-identification does to values: shifted dates, pseudonyms, 2.25 UIDs."""
    ds.StudyDate = "19991231"
    ds.PatientName = ds.PatientID = "anon_ABCDEF1234"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID("2.25.1234567890123456789")
    ds.StudyInstanceUID = UID("2.25.42")


@needs_dciodvfy
@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_the_comparison_finds_broken_attributes_and_ignores_changed_values(
    tmp_path: Path, realdata: Path
) -> None:
    source = realdata / "pydicom-bundled/test_files/CT_small.dcm"  # dciodvfy: no errors
    assert not validate(source).errors
    assert _variant(source, tmp_path, "pseudonymised", _pseudonymise) == []
    assert _variant(source, tmp_path, "type2", lambda ds: delattr(ds, "PatientID")) == [
        "Error - Missing attribute Type 2 Required Element=<PatientID> Module=<Patient>"
    ]
    assert "Error - Missing attribute Type 1 Required Element=<Rows> Module=<ImagePixel" in (
        "\n".join(_variant(source, tmp_path, "type1", lambda ds: delattr(ds, "Rows")))
    )
    empty = _variant(source, tmp_path, "empty", lambda ds: setattr(ds, "Modality", ""))
    assert any(e.startswith("Error - Empty attribute (no value) Type 1") for e in empty), empty
    date = _variant(source, tmp_path, "date", lambda ds: setattr(ds, "StudyDate", "2001-01-01"))
    invalid = "Error - Value invalid for this VR - (0x0008,0x0020) - Character invalid for this VR"
    assert invalid in date, date
    vm = _variant(source, tmp_path, "vm", lambda ds: setattr(ds, "ImageType", "ORIGINAL"))
    assert any("Bad attribute Value Multiplicity" in e for e in vm), vm


@needs_dciodvfy
@pytest.mark.realdata
def test_deidentified_headers_add_no_dciodvfy_errors(tmp_path: Path, realdata: Path) -> None:
    pairs = deidentify(realdata, realdata, tmp_path, "--no-pixels")
    assert len(pairs) >= 190, len(pairs)
    result = new_errors(pairs, tmp_path / "baseline")
    assert result.compared >= 180, (result.compared, result.not_comparable)
    assert not result.new, "de-identification added dciodvfy errors:\n" + describe(result.new)


@needs_dciodvfy
@pytest.mark.realdata
def test_deidentified_pixels_add_no_dciodvfy_errors(
    tmp_path: Path, realdata: Path, ink_engine: str
) -> None:
    subset = tmp_path / "in"
    for rel in PIXEL_SUBSET:
        copy = subset / rel  # a copy in tmp_path: the tool does not follow symlinks
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(realdata / rel, copy)
    pairs = deidentify(subset, subset, tmp_path, "--jobs", "1", "--ocr-engine", ink_engine)
    pairs = {rel: (realdata / rel, out) for rel, (_, out) in pairs.items()}
    assert len(pairs) == len(PIXEL_SUBSET), sorted(set(PIXEL_SUBSET) - set(pairs))
    result = new_errors(pairs, tmp_path / "baseline")
    assert result.compared == len(PIXEL_SUBSET), result.not_comparable
    assert not result.new, "de-identification added dciodvfy errors:\n" + describe(result.new)
