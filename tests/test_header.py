"""Header de-identification: profile actions, pseudonyms, dates, UIDs, sequences."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicomscrub.header.anonymize import HeaderAnonymizer
from dicomscrub.header.dates import shift_da, shift_dt
from dicomscrub.header.keys import ProjectKey, load_or_create_key
from dicomscrub.header.phi import sidecar_phi
from dicomscrub.header.profile import Action, HeaderProfile
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.header.table import load_table

STUDY_UID = "1.2.826.0.1.3680043.8.498.111"
SOP_UID = "1.2.826.0.1.3680043.8.498.222"


def make_dataset(patient_id: str = "MRN99887766", study_date: str = "20240318") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    ds.file_meta.SourceApplicationEntityTitle = "SCANNERPHI"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.PatientName = "ZEBRA^QUINCY^X"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19610412"
    ds.StudyDate = study_date
    ds.AcquisitionDateTime = study_date + "101500.25"
    ds.AccessionNumber = "ACC55443322"
    ds.InstitutionName = "ST ELSEWHERE GENERAL"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.OperatorsName = "NURSE^RATCHED"
    ds.Modality = "CT"
    ds.Rows = 16
    inner = Dataset()
    inner.ReferencedSOPClassUID = CTImageStorage
    inner.ReferencedSOPInstanceUID = SOP_UID
    inner.PerformingPhysicianName = "DEEP^NESTED^NAME"
    middle = Dataset()
    middle.RequestedProcedureID = "RP777"
    middle.ReferencedStudySequence = Sequence([inner])
    middle.ScheduledPerformingPhysicianName = "SECOND^LEVEL"
    ds.RequestAttributesSequence = Sequence([middle])
    source = Dataset()
    source.ReferencedSOPClassUID = CTImageStorage
    source.ReferencedSOPInstanceUID = SOP_UID
    deeper = Dataset()
    deeper.ReferencedSOPInstanceUID = STUDY_UID
    deeper.PerformingPhysicianName = "DEPTH^TWO"
    source.ReferencedImageSequence = Sequence([deeper])
    ds.SourceImageSequence = Sequence([source])
    block = ds.private_block(0x0009, "ACME_TEST 1.0", create=True)
    block.add_new(0x10, "LO", "ZEBRA QUINCY private copy")
    return ds


def anonymizer(secret: bytes = b"k" * 32) -> HeaderAnonymizer:
    pseudo = Pseudonymizer(ProjectKey(secret), "anon", (-3650, -365))
    return HeaderAnonymizer(HeaderProfile(), pseudo)


def test_patient_name_and_id_become_the_keyed_pseudonym() -> None:
    ds = make_dataset()
    report = anonymizer().anonymize(ds, pixels_cleaned=True)
    assert ds.PatientName == report.pseudonym == ds.PatientID
    assert report.pseudonym.startswith("anon_")
    other = make_dataset()
    assert anonymizer().anonymize(other, pixels_cleaned=True).pseudonym == report.pseudonym
    third = make_dataset()
    assert anonymizer(b"z" * 32).anonymize(third, pixels_cleaned=True).pseudonym != report.pseudonym


def test_no_identifying_value_survives_at_any_depth() -> None:
    ds = make_dataset()
    anonymizer().anonymize(ds, pixels_cleaned=True)
    text = repr(ds) + repr(ds.file_meta)
    for secret in (
        "ZEBRA",
        "QUINCY",
        "MRN99887766",
        "ACC55443322",
        "ELSEWHERE",
        "HOUSE",
        "RATCHED",
        "DEEP",
        "NESTED",
        "SECOND",
        "DEPTH",
        "19610412",
        "20240318",
        "SCANNERPHI",
        STUDY_UID,
        SOP_UID,
    ):
        assert secret not in text, secret


def test_private_tags_are_removed() -> None:
    ds = make_dataset()
    anonymizer().anonymize(ds, pixels_cleaned=False)
    assert not any(elem.tag.is_private for elem in ds)


def test_uids_are_remapped_consistently_and_class_uids_kept() -> None:
    ds = make_dataset()
    anonymizer().anonymize(ds, pixels_cleaned=True)
    assert ds.SOPInstanceUID.startswith("2.25.")
    assert len(ds.SOPInstanceUID) <= 64
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    ref = ds.SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == CTImageStorage
    assert ref.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ds.StudyInstanceUID
    assert "PerformingPhysicianName" not in ref.ReferencedImageSequence[0]
    assert ds.SOPClassUID == CTImageStorage
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_dates_of_one_patient_shift_by_one_offset_keeping_intervals() -> None:
    a = make_dataset(study_date="20240318")
    b = make_dataset(study_date="20240401")
    anon = anonymizer()
    ra = anon.anonymize(a, pixels_cleaned=True)
    anon.anonymize(b, pixels_cleaned=True)
    assert a.StudyDate != "20240318"
    assert -3650 <= ra.date_offset_days <= -365
    from datetime import datetime

    gap = datetime.strptime(b.StudyDate, "%Y%m%d") - datetime.strptime(a.StudyDate, "%Y%m%d")
    assert gap.days == 14
    assert a.AcquisitionDateTime.startswith(a.StudyDate)
    assert a.AcquisitionDateTime.endswith("101500.25")


def test_accession_pseudonymised_physicians_and_institution_removed() -> None:
    ds = make_dataset()
    anonymizer().anonymize(ds, pixels_cleaned=True)
    token = ds.AccessionNumber
    assert len(token) == 12 and "55443322" not in token
    again = make_dataset()
    anonymizer().anonymize(again, pixels_cleaned=True)
    assert again.AccessionNumber == token  # keyed, deterministic
    other_key = make_dataset()
    anonymizer(b"q" * 32).anonymize(other_key, pixels_cleaned=True)
    assert other_key.AccessionNumber != token
    assert ds.get("InstitutionName", "ANONYMIZED") == "ANONYMIZED"
    assert str(ds.get("OperatorsName", "")) in ("", "ANONYMIZED")
    assert ds.get("ReferringPhysicianName", "") == ""


def test_required_deidentification_attributes_are_written() -> None:
    ds = make_dataset()
    anonymizer().anonymize(ds, pixels_cleaned=True)
    assert ds.PatientIdentityRemoved == "YES"
    assert "dicomscrub" in ds.DeidentificationMethod[0]
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100" and "113101" in codes and "113107" in codes
    assert ds.BurnedInAnnotation == "NO"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_burned_in_annotation_untouched_when_pixels_not_cleaned() -> None:
    ds = make_dataset()
    ds.BurnedInAnnotation = "YES"
    anonymizer().anonymize(ds, pixels_cleaned=False)
    assert ds.BurnedInAnnotation == "YES"
    assert "113101" not in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


def test_every_table_row_resolves_to_an_implemented_action() -> None:
    table = load_table()
    assert len(table.rows) == 621
    profile = HeaderProfile()
    for row in table.rows:
        for vr in ("LO", "UI", "DA", "SQ"):
            assert isinstance(profile.decide(row.value, "", vr).action, Action)


def test_date_helpers_handle_partial_and_bad_values() -> None:
    assert shift_da("20240301", -1) == "20240229"
    assert shift_da("not a date", 5) == ""
    assert shift_dt("2024", 10) == "2024"
    assert shift_dt("20240301120000+0100", -1) == "20240229120000+0100"


def test_key_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "private" / "key"
    first = load_or_create_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == first
    assert "secret" not in repr(first).lower() or "<secret>" in repr(first)
    assert first.secret.hex() not in repr(first)


def test_sidecar_phi_holds_the_original_values() -> None:
    phi = sidecar_phi(make_dataset())
    assert phi["PatientName"] == "ZEBRA^QUINCY^X"
    assert phi["PatientID"] == "MRN99887766"
    assert phi["StudyDate"] == "20240318"
