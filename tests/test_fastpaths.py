"""The header-only fast paths write exactly what the way they replace writes.

A header-only run (``run --no-pixels --jobs 1``, in this process) is made twice over the
same files: once as it is, once with the fast paths of the header step turned off (the
header read by ``dcmread``; screened, cleaned and pseudonymised text decoded and changed
as objects; the terms pass keeping every private sequence; encoded-sequence decisions
made afresh per sequence; the file meta set and validated by pydicom; no element writes
remembered; plain JSON and full path resolution for the sidecars). Released files and
sidecars must match byte for byte. The smaller pieces (term lookups, JSON layout, path
resolution, remembered writes) are checked against their plain versions one by one.
(That the encoded walk writes what the pure object walk writes is ``test_rawseq``'s.)
"""

from __future__ import annotations

import itertools
import os
import random
import re
import unicodedata
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

import dicomscrub.batch.worker as worker
import dicomscrub.header.anonymize as anonymize
import dicomscrub.header.dictionary as dictionary
import dicomscrub.io.fastwrite as fastwrite
import dicomscrub.io.read as reader
from dicomscrub.cli import main
from dicomscrub.header import clean as clean_module
from dicomscrub.header.anonymize import HeaderAnonymizer
from dicomscrub.header.clean import clean_text
from dicomscrub.header.encoding import SEQ_END, UNDEFINED, element_header
from dicomscrub.header.keys import load_or_create_key
from dicomscrub.header.phi import header_terms
from dicomscrub.header.profile import HeaderProfile
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.io.read import read_header
from dicomscrub.terms import holds_term, identifying_terms, path_holds_term
from factories import canary_dataset, descriptor_phi_dataset, enhanced_dataset, write_dataset

# --------------------------------------------------------------------------- files


def _with_private_sequence(ds: Dataset) -> Dataset:
    """A top-level private sequence holding the patient's name (the terms pass reads it;
    the profile removes it unless told to keep it)."""
    block = ds.private_block(0x0009, "DICOMSCRUB FAST", create=True)
    item = Dataset()
    item.PatientName = "QUILLFEATHER^ROSALIND"
    item.add_new(0x00100020, "LO", "MRN4471920")
    block.add_new(0x02, "SQ", Sequence([item]))
    block.add_new(0x03, "LO", "kept or not")
    return ds


def _charset(ds: Dataset, charset: str | list[str], name: str, description: str) -> Dataset:
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.StudyDescription = description
    ds.InstitutionAddress = f"Hauptstraße 1 \\ {description}"  # ST: a backslash is text
    return ds


def _generated(folder: Path) -> list[Path]:
    """Files of every shape the fast paths take or refuse (explicit and implicit VR,
    character sets, private and descriptor text, a nested sequence per frame)."""
    descriptors = descriptor_phi_dataset().dataset
    # Short text not in the table, screened: holding the family name it is dummied.
    descriptors.Manufacturer = "Quixlowe Imaging"
    descriptors.SoftwareVersions = ["V1.2 ", "built for QUIXLOWE"]
    descriptors.StationName = "CT1"
    # A description longer than its VR allows, cleaned and cut back to 64 characters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom says it is too long: that is the point
        descriptors.SeriesDescription = "AXIAL 5MM Marabel Quixlowe " + "WITH CONTRAST " * 5
    cases: dict[str, Dataset] = {
        "canary.dcm": canary_dataset().dataset,
        "descriptors.dcm": descriptors,
        "enhanced.dcm": _with_private_sequence(enhanced_dataset(4)),
        "enhanced_implicit.dcm": _with_private_sequence(enhanced_dataset(3, implicit=True)),
        "latin1.dcm": _charset(descriptor_phi_dataset().dataset, "ISO_IR 100",
                               "Müller^Zoë", "Kontrolle Müller Knie"),
        "utf8.dcm": _charset(descriptor_phi_dataset().dataset, "ISO_IR 192",
                             "Brandt^Ilse", "Prüfung für Brandt 東京"),
        "japanese.dcm": _charset(descriptor_phi_dataset().dataset,
                                 ["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎",
                                 "CT CHEST Yamada"),
    }  # fmt: skip
    implicit = descriptor_phi_dataset().dataset
    implicit.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    cases["descriptors_implicit.dcm"] = implicit
    return [write_dataset(ds, folder / name) for name, ds in cases.items()]


# --------------------------------------------------------------------------- runs


def _set_meta_text_by_setter(meta: Dataset, tag: int, vr: str, value: str) -> None:
    setattr(meta, keyword_for_tag(tag), value)


def _run(src: Path, out: Path, key: Path, *extra: str) -> dict[str, bytes]:
    """Every released file and sidecar of one header-only run, by relative path."""
    status = main(
        ["run", "--input", str(src), "--output", str(out / "release"), "--headers",
         str(out / "private"), "--key-file", str(key), "--no-pixels", "--jobs", "1",
         "--no-progress", *extra]
    )  # fmt: skip
    assert status in (0, 1)
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and (path.suffix == ".dcm" or path.name.endswith("_bboxes.json")):
            found[str(path.relative_to(out))] = path.read_bytes()
    return found


def _both_ways(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    key = tmp_path / "key"
    out = tmp_path / "out"  # the same folder both times: sidecars name it
    fast = _run(src, out, key, *extra)
    for path in sorted(out.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    with monkeypatch.context() as m:
        m.setattr(reader, "read_header_fast", lambda path, defer: None)
        m.setattr(anonymize, "_changed_text", lambda vr, action, stored, terms: None)
        m.setattr(anonymize, "_plain_token", lambda value, vr: False)
        m.setattr(anonymize, "_set_meta_text", _set_meta_text_by_setter)
        m.setattr(HeaderAnonymizer, "removes_private", lambda self, ds, tag: False)
        m.setattr(HeaderAnonymizer, "_sequence_decisions", lambda self, scope: {})
        m.setattr(dictionary, "_SINGLE_TEXT_VRS", frozenset())
        m.setattr(fastwrite, "usual_meta_bytes", lambda ds, meta: None)
        m.setattr(fastwrite, "_PLAIN_VALUE_TYPES", frozenset())
        m.setattr(worker, "_resolved", lambda path: path.resolve())
        slow = _run(src, out, key, *extra)
    return fast, slow


OPTIONS = {
    "default": (),
    "safe-private": ("--option", "retain_safe_private", "--option", "retain_uids"),
    "dates-kept": ("--option", "retain_long_full_dates", "--without-option",
                   "clean_descriptors", "--option", "clean_structured_content"),
}  # fmt: skip


@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
def test_a_header_only_run_writes_the_same_bytes_with_and_without_its_fast_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: str
) -> None:
    src = tmp_path / "in"
    _generated(src)
    fast, slow = _both_ways(src, tmp_path, monkeypatch, *OPTIONS[options])
    assert sum(name.endswith(".dcm") for name in fast) == 8
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == slow[name], name


def test_a_kept_private_sequence_is_written_the_same_with_and_without_its_fast_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    write_dataset(_with_private_sequence(enhanced_dataset(2)), src / "kept.dcm")
    profile = tmp_path / "keep.toml"
    profile.write_text(
        '[[rules]]\nprivate = { creator = "DICOMSCRUB FAST", group = "0009", offset = "02" }\n'
        'action = "keep"\n',
        encoding="utf-8",
    )
    fast, slow = _both_ways(src, tmp_path, monkeypatch, "--profile", str(profile))
    released = [data for name, data in fast.items() if name.endswith(".dcm")]
    assert released and b"DICOMSCRUB FAST" in released[0]  # the block was kept
    assert fast == slow


@pytest.mark.realdata
def test_real_files_are_written_the_same_with_and_without_the_fast_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, realdata: Path
) -> None:
    fast, slow = _both_ways(realdata, tmp_path, monkeypatch)
    assert sum(name.endswith(".dcm") for name in fast) > 100
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == slow[name], name


# --------------------------------------------------------------------------- pieces


def test_the_terms_are_the_same_when_removed_private_sequences_are_left_alone(
    tmp_path: Path,
) -> None:
    path = write_dataset(_with_private_sequence(enhanced_dataset(3)), tmp_path / "in.dcm")
    pseudo = Pseudonymizer(load_or_create_key(tmp_path / "key"), "anon", (-10, -1))
    anonymizer = HeaderAnonymizer(HeaderProfile(), pseudo)
    left = read_header(path)
    assert anonymizer.removes_private(left, 0x00091002)
    assert header_terms(left, anonymizer.removes_private) == header_terms(read_header(path))
    assert isinstance(left.get_item(0x00091002), RawDataElement)  # not decoded by the pass


def _written(elem: DataElement | RawDataElement, encoding: object, implicit: bool) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_data_element(fp, elem, encoding)  # type: ignore[arg-type]
    return bytes(fp.getvalue())


@pytest.mark.parametrize("implicit", [False, True])
def test_remembered_element_writes_are_pydicom_s(implicit: bool) -> None:
    elements = [
        DataElement(0x00080005, "CS", "ISO_IR 100"),
        DataElement(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2"),
        DataElement(0x00280010, "US", 512),
        DataElement(0x00080070, "LO", "Müller Medical"),
        DataElement(0x00081030, "LO", "odd"),
    ]
    for encoding in ("ISO_IR 100", "ISO_IR 192", ["", "ISO 2022 IR 100"]):
        for _ in range(2):  # the second time from memory
            for elem in elements:
                got = fastwrite._element_bytes(elem, encoding, implicit)
                assert got == _written(elem, encoding, implicit)


@pytest.mark.parametrize("implicit", [False, True])
def test_a_rewritten_sequence_is_written_as_pydicom_writes_it(implicit: bool) -> None:
    items = b"\xfe\xff\x00\xe0\xff\xff\xff\xff\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    raw = RawDataElement(BaseTag(0x00400275), None if implicit else "SQ", UNDEFINED, items,
                         0, implicit, True)  # fmt: skip
    expected = _written(raw, "ISO_IR 100", implicit)
    assert element_header(0x00400275, "SQ", UNDEFINED, implicit) + items + SEQ_END == expected


# The term lookups as they were, one term and one word at a time.


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).upper()
    return "".join(c for c in decomposed if c.isalnum())


def _holds_term(text: str, terms: frozenset[str]) -> bool:
    token = _normalize(text)
    if not token:
        return False
    split = [_normalize(w) for w in re.split(r"[\W_]+", text) if w]
    words = set(split)
    words.update(a + b for a, b in itertools.pairwise(split))
    return any(
        (len(t) >= 3 and t in words) or (len(t) >= 6 and t in token and any(c.isdigit() for c in t))
        for t in terms
    )


def _path_holds_term(name: str, terms: frozenset[str]) -> bool:
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)
    words += re.split(r"[\W_]+", name)
    normal = {_normalize(w) for w in words if w}
    token = _normalize(name)
    return any((len(t) >= 3 and t in normal) or (len(t) >= 5 and t in token) for t in terms)


TEXTS = ["Dr Quillfeather, MRN 4471920", "PRIMARY", "O Brien 1961-03-04", "Müller Zoë",
         "CT ABDOMEN f/u 12/03/1965", "scan-MRN4471920", "DoeJane_0042", "4471", "", " ",
         "ANON_19610304", "Tel 555 274 9183"]  # fmt: skip


def test_term_lookups_find_what_they_found_term_by_term() -> None:
    rng = random.Random(5)
    for n in range(40):
        names = rng.sample(["QUILLFEATHER^ROSALIND", "O'Brien^Mary-Kate", "Müller^Zoë",
                            "Doe^Jane", "Li"], 2)  # fmt: skip
        ids = rng.sample(["MRN4471920", "ACC 12-34", "4471", "X1"], 2)
        dates = rng.sample(["19610304", "20240511", "1965", "19651312"], 2)
        terms = identifying_terms(names, ids, dates)
        if n % 2:
            terms = frozenset(terms)  # an equal set, not the remembered object
        for text in TEXTS:
            assert holds_term(text, terms) == _holds_term(text, terms), text
            assert path_holds_term(text, terms) == _path_holds_term(text, terms), text
        cleaned = {text: clean_text(text, terms) for text in TEXTS}
        clean_module._without_patterns.cache_clear()
        clean_module._words.cache_clear()
        assert cleaned == {text: clean_text(text, terms) for text in TEXTS}


def test_resolved_paths_are_path_resolve_s(tmp_path: Path) -> None:
    real = tmp_path / "real" / "sub"
    real.mkdir(parents=True)
    (real / "file.dcm").write_bytes(b"")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (real / "alias.dcm").symlink_to(real / "file.dcm")
    cases = [real / "file.dcm", tmp_path / "linked" / "sub" / "file.dcm", real / "alias.dcm",
             tmp_path / "linked" / "sub" / "missing" / "x.dcm", real / ".." / "sub" / "file.dcm",
             Path(os.path.relpath(real / "file.dcm"))]  # fmt: skip
    for path in cases:
        assert worker._resolved(path) == path.resolve(), path
