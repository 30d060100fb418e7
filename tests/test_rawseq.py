"""Sequences de-identified on their stored bytes give exactly what the object walk gives."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomscrub.config import HeaderConfig
from dicomscrub.header.anonymize import HeaderAnonymizer, HeaderReport
from dicomscrub.header.keys import ProjectKey
from dicomscrub.header.options import resolve_options
from dicomscrub.header.profile import HeaderProfile
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.io.fastwrite import Unsupported, save_fast
from dicomscrub.io.read import read_header
from factories import canary_dataset, enhanced_dataset, write_dataset

KEY = ProjectKey(b"rawseq-parity-key-0123456789abcd")
PER_FRAME = 0x52009230


def anonymizer(*, encoded: bool, options: tuple[str, ...] | None = None) -> HeaderAnonymizer:
    config = HeaderConfig() if options is None else HeaderConfig(options=options)
    pseudo = Pseudonymizer(KEY, "anon", (config.date_shift_min_days, config.date_shift_max_days))
    return HeaderAnonymizer(HeaderProfile.from_config(config), pseudo, encoded=encoded)


def both_ways(
    path: Path, tmp_path: Path, options: tuple[str, ...] | None = None
) -> tuple[bytes, bytes, HeaderReport, HeaderReport, Dataset] | None:
    """Output bytes and reports of the object walk and of the encoded walk (``None`` when
    the fast writer cannot write this object, so bytes are not comparable)."""
    results = []
    for encoded in (False, True):
        ds = read_header(path)
        report = anonymizer(encoded=encoded, options=options).anonymize(ds, pixels_cleaned=False)
        out = tmp_path / f"{'encoded' if encoded else 'objects'}.dcm"
        try:
            save_fast(ds, out)
        except Unsupported:
            return None
        results.append((out.read_bytes(), report, ds))
    (objects, report_o, _), (encoded_bytes, report_e, ds_e) = results
    return objects, encoded_bytes, report_o, report_e, ds_e


def assert_same(path: Path, tmp_path: Path, options: tuple[str, ...] | None = None) -> Dataset:
    got = both_ways(path, tmp_path, options)
    assert got is not None
    objects, encoded, report_o, report_e, ds = got
    assert encoded == objects
    assert report_e.counts == report_o.counts
    assert report_e.uids == report_o.uids
    assert report_e.identifiers == report_o.identifiers
    return ds


OPTION_SETS = [
    None,
    resolve_options(add=("retain_safe_private", "retain_uids")),
    resolve_options(remove=("clean_descriptors",)),
    resolve_options(add=("retain_long_full_dates", "clean_structured_content")),
]


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("options", OPTION_SETS, ids=["default", "safe-uids", "no-clean", "full"])
def test_an_enhanced_header_is_the_same_walked_on_its_bytes(
    tmp_path: Path, implicit: bool, options: tuple[str, ...] | None
) -> None:
    path = write_dataset(enhanced_dataset(7, implicit=implicit), tmp_path / "in.dcm")
    ds = assert_same(path, tmp_path, options)
    assert isinstance(ds.get_item(PER_FRAME), RawDataElement)  # the encoded walk did it


def test_the_canary_dataset_is_the_same_walked_on_its_bytes(tmp_path: Path) -> None:
    path = write_dataset(canary_dataset().dataset, tmp_path / "in.dcm")
    assert_same(path, tmp_path)


def test_an_item_with_its_own_character_set_is_walked_as_objects(tmp_path: Path) -> None:
    ds = enhanced_dataset(4)
    ds.PerFrameFunctionalGroupsSequence[2].SpecificCharacterSet = "ISO_IR 100"
    path = write_dataset(ds, tmp_path / "in.dcm")
    walked = assert_same(path, tmp_path)
    assert isinstance(walked[PER_FRAME].value, Sequence)  # decoded: the object walk did it


def test_encoded_walk_finds_the_terms_of_nested_items(tmp_path: Path) -> None:
    path = write_dataset(enhanced_dataset(4), tmp_path / "in.dcm")
    ds = read_header(path)
    anonymizer(encoded=True).anonymize(ds, pixels_cleaned=False)
    out = tmp_path / "out.dcm"
    save_fast(ds, out)
    data = out.read_bytes()
    for secret in (b"QUILLFEATHER", b"WHITLOCK", b"MRN4471920", b"20240511"):
        assert secret not in data


@pytest.mark.realdata
def test_real_files_are_the_same_walked_on_their_bytes(tmp_path: Path, realdata: Path) -> None:
    compared = walked_encoded = 0
    for path in sorted(realdata.rglob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # unreadable, or refused by the object walk: nothing to compare
                anonymizer(encoded=False).anonymize(read_header(path), pixels_cleaned=False)
            except Exception:
                continue
            got = both_ways(path, tmp_path)
        if got is None:
            continue
        objects, encoded, report_o, report_e, ds = got
        assert encoded == objects, path.name
        assert report_e.counts == report_o.counts, path.name
        compared += 1
        walked_encoded += any(
            isinstance(e, RawDataElement) and e.length == 0xFFFFFFFF and e.VR in ("SQ", None)
            for e in (ds.get_item(tag, keep_deferred=True) for tag in list(ds.keys()))
        )
    assert compared > 100
    assert walked_encoded > 20  # sequences of defined length, read undecoded by pydicom


def _save_raw(ds: Dataset, path: Path) -> Path:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return write_dataset(ds, path)


def test_a_name_in_an_item_with_its_own_character_set_is_still_cleaned_from_descriptions(
    tmp_path: Path,
) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientID = "ID1"
    ds.StudyDescription = "Kontrolle Müller Knie"
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.PersonName = "Müller^Zoë"
    ds.ContentSequence = Sequence([item])
    path = _save_raw(ds, tmp_path / "in.dcm")
    walked = assert_same(path, tmp_path)
    assert "Müller" not in str(walked.StudyDescription)


def test_nested_text_is_written_in_the_character_set_the_item_inherits(tmp_path: Path) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Brandt^Ilse"
    inner = Dataset()
    inner.DerivationDescription = "Prüfung für Brandt"
    outer = Dataset()
    outer.DerivationImageSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([outer])
    ds["ReferencedImageSequence"].is_undefined_length = True  # walked as objects
    path = _save_raw(ds, tmp_path / "in.dcm")
    walked = assert_same(path, tmp_path)
    nested = walked.ReferencedImageSequence[0].DerivationImageSequence[0]
    assert "Prüfung für" in str(nested.DerivationDescription)


def test_padded_private_creators_and_identifiers_read_the_same_both_ways(tmp_path: Path) -> None:
    ds = enhanced_dataset(3)
    ds.add_new(0x00080050, "SH", b"ACC12\x00\\ACC")  # AccessionNumber with a NUL inside
    item = ds.PerFrameFunctionalGroupsSequence[1]
    del item[0x00210010]
    item.add_new(0x00210010, "LO", b"DICOMSCRUB TEST\x00")  # creator padded with a NUL
    path = write_dataset(ds, tmp_path / "in.dcm")
    assert_same(path, tmp_path, resolve_options(add=("retain_safe_private",)))
    assert_same(path, tmp_path)
