"""The PS3.15 Annex E profile: table coverage, options, compound codes, Retain Safe Private,
override rules, crosswalk, describe, and reproducibility of whole runs."""

from __future__ import annotations

import csv
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicomscrub.audit.crosswalk import Crosswalk, export_csv
from dicomscrub.cli import main
from dicomscrub.errors import ConfigError
from dicomscrub.header.anonymize import HeaderAnonymizer
from dicomscrub.header.keys import ProjectKey
from dicomscrub.header.options import OPTION_NAMES, resolve_options
from dicomscrub.header.overrides import parse_profile
from dicomscrub.header.private import shipped_safe_list
from dicomscrub.header.profile import Action, Context, HeaderProfile, _clean_decision, _compound
from dicomscrub.header.profile import _simple as simple_action
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.header.table import load_table
from dicomscrub.models import CrosswalkRows

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"


def patient(
    sop_class: str = CTImageStorage, sop_uid: str = "1.2.826.0.1.3680043.8.498.5"
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.6"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.7"
    ds.PatientName = "QUARTZ^WILHELMINA"
    ds.PatientID = "PID4477120"
    ds.PatientBirthDate = "19580214"
    ds.PatientSex = "F"
    ds.PatientAge = "066Y"
    ds.PatientWeight = "61"
    ds.StudyDate = "20240520"
    ds.StudyTime = "101500"
    ds.Modality = "CT"
    ds.AccessionNumber = "ACX3390"
    ds.InstitutionName = "MERCYVALE INFIRMARY"
    ds.StationName = "CTSTATION7"
    ds.DeviceSerialNumber = "SN998877"
    ds.StudyDescription = "CT CHEST for Wilhelmina Quartz PID4477120 born 14/02/1958"
    return ds


def anonymizer(options: tuple[str, ...] | None = None, **kwargs: object) -> HeaderAnonymizer:
    profile = HeaderProfile(
        options=resolve_options(None if options is None else options),
        safe_private=shipped_safe_list(),
        **kwargs,  # type: ignore[arg-type]
    )
    return HeaderAnonymizer(profile, Pseudonymizer(ProjectKey(b"p" * 32), "anon", (-900, -400)))


# ----------------------------------------------------------------------------- the table


def _vr_for(tag: int) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "LO"
    return vr.split(" or ")[0] if vr else "LO"


def test_every_table_row_and_option_column_has_an_implemented_action() -> None:
    table = load_table()
    assert len(table.rows) == 621
    assert "2024" in table.edition
    profile = HeaderProfile(options=OPTION_NAMES[:6] + OPTION_NAMES[7:])  # all but exclusive
    for row in table.rows:
        probe = row.value if row.mask == 0xFFFFFFFF else row.value | 0x00010010 * 0
        vr = _vr_for(probe) if row.mask == 0xFFFFFFFF else "LO"
        for code in (row.basic, *(c for _, c in row.options)):
            if "/" in code:
                for kind in ("1", "2", "3"):
                    assert isinstance(_compound(code, vr, kind, "t").action, Action)
            elif code == "C":
                for option, _ in row.options:
                    cleaned = _clean_decision(vr, option)
                    # None: the value cannot be cleaned, the basic profile decides
                    assert cleaned is None or isinstance(cleaned.action, Action)
            else:
                assert isinstance(simple_action(code, vr, "t").action, Action)
        decision = profile.decide(probe, "", vr)
        assert decision.reason


def test_wildcard_rows_cover_curves_overlays_and_private_groups() -> None:
    table = load_table()
    assert table.lookup(0x50023000) is not None
    assert table.lookup(0x60024000) is not None
    private = table.lookup(0x00091001)
    assert private is not None and private.basic == "X"


def test_compound_codes_follow_the_attribute_type_in_the_iod() -> None:
    ct, enhanced = patient(), patient(ENHANCED_CT)
    dx = patient(DX)
    for ds in (ct, enhanced, dx):
        ds.AcquisitionContextSequence = Sequence([Dataset()])
    for ds in (ct, enhanced, dx):
        anonymizer().anonymize(ds, pixels_cleaned=False)
    assert "DeviceSerialNumber" not in ct  # Type 3 in CT Image: X
    assert enhanced.DeviceSerialNumber == "ANONYMIZED"  # Type 1 in enhanced IODs: D
    assert "AcquisitionContextSequence" not in ct
    assert dx.AcquisitionContextSequence == Sequence([])  # Type 2 in DX: Z
    assert "StationName" not in ct and "InstitutionName" not in ct


def test_always_removed_elements_go_even_with_every_option() -> None:
    ds = patient()
    ds.OriginalAttributesSequence = Sequence([Dataset()])
    ds.IconImageSequence = Sequence([Dataset()])
    ds.add_new(0xFFFAFFFA, "SQ", Sequence([Dataset()]))
    ds.add_new(0xFFFCFFFC, "OB", b"\0\0")
    anonymizer(("retain_uids", "retain_safe_private", "retain_device_identity")).anonymize(
        ds, pixels_cleaned=False
    )
    for tag in (0x04000561, 0x00880200, 0xFFFAFFFA, 0xFFFCFFFC):
        assert tag not in ds


# ---------------------------------------------------------------------------- the options


def test_default_options_and_required_attributes() -> None:
    ds = patient()
    anonymizer().anonymize(ds, pixels_cleaned=True)
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101", "113105", "113107"]
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.BurnedInAnnotation == "NO"
    assert ds.PatientIdentityRemoved == "YES"
    assert any("2024" in m for m in ds.DeidentificationMethod)
    not_cleaned = patient()
    anonymizer().anonymize(not_cleaned, pixels_cleaned=False)
    codes = [item.CodeValue for item in not_cleaned.DeidentificationMethodCodeSequence]
    assert "113101" not in codes and "BurnedInAnnotation" not in not_cleaned


@pytest.mark.parametrize(
    ("option", "keyword", "kept"),
    [
        ("retain_device_identity", "DeviceSerialNumber", "SN998877"),
        ("retain_device_identity", "StationName", "CTSTATION7"),
        ("retain_institution_identity", "InstitutionName", "MERCYVALE INFIRMARY"),
        ("retain_patient_characteristics", "PatientSex", "F"),
        ("retain_patient_characteristics", "PatientAge", "066Y"),
        ("retain_patient_characteristics", "PatientWeight", "61"),
        ("retain_long_full_dates", "StudyDate", "20240520"),
        ("retain_uids", "SOPInstanceUID", "1.2.826.0.1.3680043.8.498.5"),
    ],
)
def test_each_retain_option_keeps_what_it_names(option: str, keyword: str, kept: str) -> None:
    without = patient()
    anonymizer().anonymize(without, pixels_cleaned=False)
    assert str(without.get(keyword, "")) != kept
    ds = patient()
    anonymizer(resolve_options(None, [option])).anonymize(ds, pixels_cleaned=False)
    assert str(ds.get(keyword, "")) == kept
    code = {"retain_device_identity": "113109", "retain_institution_identity": "113112",
            "retain_patient_characteristics": "113108", "retain_long_full_dates": "113106",
            "retain_uids": "113110"}[option]  # fmt: skip
    assert code in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def test_full_dates_replace_modified_dates_and_no_date_option_removes_dates() -> None:
    assert "retain_long_modified_dates" not in resolve_options(None, ["retain_long_full_dates"])
    with pytest.raises(ConfigError):
        resolve_options(["retain_long_full_dates", "retain_long_modified_dates"])
    with pytest.raises(ConfigError, match="unknown profile option"):
        resolve_options(None, ["retain_everything"])
    full = patient()
    anonymizer(resolve_options(None, ["retain_long_full_dates"])).anonymize(
        full, pixels_cleaned=False
    )
    assert full.LongitudinalTemporalInformationModified == "UNMODIFIED"
    none = patient()
    anonymizer(resolve_options(None, (), ["retain_long_modified_dates"])).anonymize(
        none, pixels_cleaned=False
    )
    assert none.StudyDate == "" and none.LongitudinalTemporalInformationModified == "REMOVED"
    assert "PatientBirthDate" not in none or none.PatientBirthDate == ""


def test_clean_descriptors_cleans_and_without_it_descriptors_go() -> None:
    ds = patient()
    anonymizer().anonymize(ds, pixels_cleaned=False)
    text = ds.StudyDescription
    assert text.startswith("CT CHEST")
    for piece in ("Wilhelmina", "Quartz", "4477120", "1958"):
        assert piece.upper() not in text.upper()
    plain = patient()
    anonymizer(resolve_options(None, (), ["clean_descriptors"])).anonymize(
        plain, pixels_cleaned=False
    )
    assert "StudyDescription" not in plain


def _sr_item(text: str) -> Dataset:
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = text
    return item


def test_clean_structured_content_and_graphics_clean_text_inside() -> None:
    def build() -> Dataset:
        ds = patient()
        inner = _sr_item("Findings for QUARTZ stable since 2023-01-04")
        outer = Dataset()
        outer.ValueType = "CONTAINER"
        outer.ContentSequence = Sequence([inner])
        ds.ContentSequence = Sequence([outer])
        text = Dataset()
        text.UnformattedTextValue = "Wilhelmina QUARTZ left lobe"
        layer = Dataset()
        layer.TextObjectSequence = Sequence([text])
        ds.GraphicAnnotationSequence = Sequence([layer])
        return ds

    basic = build()
    anonymizer().anonymize(basic, pixels_cleaned=False)
    assert basic.ContentSequence[0].ContentSequence[0].TextValue == "ANONYMIZED"
    cleaned = build()
    anonymizer(resolve_options(None, ["clean_structured_content", "clean_graphics"])).anonymize(
        cleaned, pixels_cleaned=False
    )
    value = cleaned.ContentSequence[0].ContentSequence[0].TextValue
    assert value.startswith("Findings for ***") and "2023" not in value
    shown = cleaned.GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue
    assert shown == "*** left lobe"


# -------------------------------------------------------------------- retain safe private


def _with_private(ds: Dataset, slot: int) -> Dataset:
    ds.add_new(0x00190000 | slot, "LO", "SIEMENS MR HEADER")
    base = 0x00190000 | (slot << 8)
    ds.add_new(base | 0x0C, "IS", "1000")  # B value: on the safe list
    ds.add_new(base | 0x99, "LO", "QUARTZ private copy")  # not on the list
    ds.add_new(0x00290010, "LO", "ACME UNKNOWN")
    ds.add_new(0x0029100C, "LO", "QUARTZ ACME")  # same offset, other creator
    return ds


@pytest.mark.parametrize("slot", [0x10, 0x23])
def test_retain_safe_private_matches_creator_and_offset_not_the_raw_tag(slot: int) -> None:
    ds = _with_private(patient(), slot)
    anonymizer(resolve_options(None, ["retain_safe_private"])).anonymize(ds, pixels_cleaned=False)
    base = 0x00190000 | (slot << 8)
    assert ds[base | 0x0C].value == "1000"
    assert (base | 0x99) not in ds
    assert ds[0x00190000 | slot].value == "SIEMENS MR HEADER"
    assert 0x0029100C not in ds and 0x00290010 not in ds  # creator goes with its block
    plain = _with_private(patient(), slot)
    anonymizer().anonymize(plain, pixels_cleaned=False)
    assert not any(elem.tag.is_private for elem in plain)


def test_retain_safe_private_honours_the_instance_declaration() -> None:
    ds = patient()
    ds.add_new(0x00330010, "LO", "VENDOR SAFE")
    ds.add_new(0x00331001, "DS", "2.5")
    ds.add_new(0x00330011, "LO", "VENDOR MIXED")
    ds.add_new(0x00331101, "DS", "7")
    ds.add_new(0x00331102, "LO", "QUARTZ")
    safe, mixed = Dataset(), Dataset()
    safe.PrivateGroupReference = 0x0033
    safe.PrivateCreatorReference = "VENDOR SAFE"
    safe.BlockIdentifyingInformationStatus = "SAFE"
    mixed.PrivateGroupReference = 0x0033
    mixed.PrivateCreatorReference = "VENDOR MIXED"
    mixed.BlockIdentifyingInformationStatus = "MIXED"
    mixed.NonidentifyingPrivateElements = [0x01]
    ds.PrivateDataElementCharacteristicsSequence = Sequence([safe, mixed])
    anonymizer(resolve_options(None, ["retain_safe_private"])).anonymize(ds, pixels_cleaned=False)
    assert ds[0x00331001].value == 2.5 and ds[0x00331101].value == 7
    assert 0x00331102 not in ds


# ---------------------------------------------------------------------- override rules


def test_override_rules_keep_replace_regex_by_keyword_tag_private_and_path() -> None:
    profile = parse_profile(
        {
            "rules": [
                {"keyword": "PatientSex", "action": "keep"},
                {"tag": "(0008,1010)", "action": "replace", "value": "STATION"},
                {"private": {"creator": "ACME UNKNOWN", "group": "0029", "offset": "0C"},
                 "action": "keep"},
                {"path": "RequestAttributesSequence/RequestedProcedureDescription",
                 "action": "regex", "pattern": "(?i)quartz", "replacement": "X"},
                {"keyword": "StudyDescription", "action": "remove"},
            ]
        }
    )  # fmt: skip
    ds = patient()
    ds.add_new(0x00290010, "LO", "ACME UNKNOWN")
    ds.add_new(0x0029100C, "LO", "kept by rule")
    item = Dataset()
    item.RequestedProcedureDescription = "MRI for Quartz"
    ds.RequestAttributesSequence = Sequence([item])
    ds.RequestedProcedureDescription = "top level: not on the path"
    anonymizer(rules=profile.rules).anonymize(ds, pixels_cleaned=False)
    assert ds.PatientSex == "F"
    assert ds.StationName == "STATION"
    assert ds[0x0029100C].value == "kept by rule" and ds[0x00290010].value == "ACME UNKNOWN"
    assert ds.RequestAttributesSequence[0].RequestedProcedureDescription == "MRI for X"
    assert ds.RequestedProcedureDescription == "top level: not on the path"  # cleaned only
    assert "StudyDescription" not in ds


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": [{"action": "keep"}]}, "exactly one of"),
        ({"rules": [{"keyword": "NoSuchKeyword", "action": "keep"}]}, "not a DICOM keyword"),
        ({"rules": [{"keyword": "PatientSex", "action": "frobnicate"}]}, "action must be"),
        ({"rules": [{"tag": "(0008,1010)", "action": "replace"}]}, "needs a value"),
        ({"rules": [{"tag": "xyz", "action": "keep"}]}, "not a tag"),
        ({"rules": [{"keyword": "PatientSex", "action": "regex", "pattern": "("}]}, "regex"),
        ({"colour": "blue"}, "unknown settings"),
    ],
)
def test_bad_profile_files_are_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_profile(data)


def _write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 4, 4, 16, 12, 11
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.PixelData = np.arange(16, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_profile_file_on_the_command_line(tmp_path: Path) -> None:
    _write(patient(), tmp_path / "in" / "a.dcm")
    profile = tmp_path / "profile.toml"
    profile.write_text(
        'options = ["retain_patient_characteristics", "retain_long_modified_dates"]\n'
        "date_shift_days = [-30, -30]\n"
        '[[rules]]\nkeyword = "StationName"\naction = "replace"\nvalue = "ROOM"\n'
    )
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--headers", str(tmp_path / "hdr"), "--profile", str(profile),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    out = pydicom.dcmread(tmp_path / "out" / "a.dcm")
    assert out.StationName == "ROOM" and out.PatientWeight == 61
    assert out.StudyDate == "20240420"  # the range [-30, -30] leaves one possible shift
    assert "StudyDescription" not in out  # the file's option list has no clean_descriptors
    bad = tmp_path / "bad.toml"
    bad.write_text("options = ['retain_everything']\n")
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o2"),
                 "--headers", str(tmp_path / "h2"), "--profile", str(bad)])  # fmt: skip
    assert code == 2


# ------------------------------------------------------------- crosswalk and describe


def _run(inp: Path, root: Path, *extra: str) -> int:
    return main(["run", "--input", str(inp), "--output", str(root / "out"),
                 "--headers", str(root / "hdr"), "--no-progress", "--no-pixels",
                 *extra])  # fmt: skip


def test_crosswalk_records_every_run_and_exports_csv(tmp_path: Path) -> None:
    _write(patient(), tmp_path / "in" / "a.dcm")
    second = patient(sop_uid="1.2.826.0.1.3680043.8.498.55")
    second.PatientID = "PID000002"
    _write(second, tmp_path / "in" / "b.dcm")
    assert _run(tmp_path / "in", tmp_path, "--jobs", "1") == 0
    assert _run(tmp_path / "in", tmp_path, "--jobs", "1", "--overwrite") == 0
    db = tmp_path / "hdr" / "crosswalk.sqlite"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    counts = export_csv(tmp_path / "hdr", tmp_path / "hdr" / "x")
    assert counts["patients"] == 2  # a rerun adds no duplicates
    rows = list(csv.DictReader((tmp_path / "hdr" / "x" / "patients.csv").open()))
    out = pydicom.dcmread(tmp_path / "out" / "a.dcm")
    row = next(r for r in rows if r["original_patient_id"] == "PID4477120")
    assert row["pseudonym"] == out.PatientID
    studies = list(csv.DictReader((tmp_path / "hdr" / "x" / "studies.csv").open()))
    assert {s["new_study_uid"] for s in studies} == {out.StudyInstanceUID}
    assert studies[0]["new_accession"] == out.AccessionNumber
    uids = {r["original_uid"]: r["new_uid"] for r in csv.DictReader(
        (tmp_path / "hdr" / "x" / "uids.csv").open())}  # fmt: skip
    assert uids["1.2.826.0.1.3680043.8.498.5"] == out.SOPInstanceUID
    code = main(["crosswalk", "export", "--headers", str(tmp_path / "hdr")])
    assert code == 0 and (tmp_path / "hdr" / "crosswalk-export" / "uids.csv").is_file()


def test_crosswalk_survives_concurrent_writers(tmp_path: Path) -> None:
    def write(n: int) -> None:
        with Crosswalk(tmp_path) as walk:
            for i in range(300):
                walk.add(CrosswalkRows(f"id:{n}-{i}", f"{n}-{i}", "", f"anon_{n}{i}", -400,
                                       uids=((f"1.2.{n}.{i}", f"2.25.{n}{i}"),)))  # fmt: skip

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = export_csv(tmp_path, tmp_path / "csv")
    assert counts["patients"] == 900 and counts["uids"] == 900


def test_describe_prints_actions_and_reasons_but_no_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = patient()
    item = Dataset()
    item.RequestedProcedureDescription = "x"
    item.ReferencedImageSequence = Sequence([Dataset()])
    item.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
    ds.RequestAttributesSequence = Sequence([item])
    path = _write(ds, tmp_path / "a.dcm")
    before = path.read_bytes()
    assert main(["describe", str(path), "--option", "retain_device_identity"]) == 0
    shown = capsys.readouterr().out
    assert "StationName" in shown and "option retain_device_identity" in shown
    assert "    ReferencedSOPInstanceUID" in shown  # depth 2, indented
    assert "identifying text taken out" in shown  # StudyDescription holds the name
    for value in ("QUARTZ", "Quartz", "PID4477120", "MERCYVALE", "19580214", "1.2.3.4"):
        assert value not in shown
    assert path.read_bytes() == before


# ------------------------------------------------------------------- reproducibility


def _tree(tmp_path: Path) -> Path:
    inp = tmp_path / "in"
    for n in range(6):
        ds = patient(sop_uid=f"1.2.826.0.1.3680043.8.498.{100 + n}")
        ds.PatientID = f"PID{n % 2}"
        source = Dataset()
        source.ReferencedSOPClassUID = CTImageStorage
        source.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{100 + (n + 1) % 6}"
        ds.SourceImageSequence = Sequence([source])
        _write(ds, inp / f"s{n // 3}" / f"f{n}.dcm")
    return inp


def test_runs_are_byte_identical_across_jobs_and_differ_across_keys(tmp_path: Path) -> None:
    inp = _tree(tmp_path)
    key = tmp_path / "key"
    key.write_text("ab" * 32)
    os.chmod(key, 0o600)
    assert _run(inp, tmp_path / "one", "--jobs", "1", "--key-file", str(key)) == 0
    assert _run(inp, tmp_path / "two", "--jobs", "2", "--key-file", str(key)) == 0
    assert _run(inp, tmp_path / "other", "--jobs", "1") == 0  # a new key of its own
    files = sorted(p.relative_to(tmp_path / "one" / "out")
                   for p in (tmp_path / "one" / "out").rglob("*.dcm"))  # fmt: skip
    assert len(files) == 6
    for rel in files:
        one = (tmp_path / "one" / "out" / rel).read_bytes()
        assert one == (tmp_path / "two" / "out" / rel).read_bytes(), rel
        assert one != (tmp_path / "other" / "out" / rel).read_bytes()
    # Referential integrity: each reference maps to the same UID as the file it points to.
    by_uid = {}
    for rel in files:
        out = pydicom.dcmread(tmp_path / "one" / "out" / rel)
        by_uid[out.SOPInstanceUID] = out
    for out in by_uid.values():
        assert out.SourceImageSequence[0].ReferencedSOPInstanceUID in by_uid


def test_date_shift_range_is_honoured_and_keeps_intervals(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    a, b = patient(), patient(sop_uid="1.2.826.0.1.3680043.8.498.77")
    b.StudyDate = "20240601"
    _write(a, inp / "a.dcm")
    _write(b, inp / "b.dcm")
    assert _run(inp, tmp_path, "--date-shift-days=-20,-10") == 0
    import datetime as dt

    out_a = pydicom.dcmread(tmp_path / "out" / "a.dcm")
    out_b = pydicom.dcmread(tmp_path / "out" / "b.dcm")
    day = dt.date(2024, 5, 20)
    shifted = dt.datetime.strptime(out_a.StudyDate, "%Y%m%d").date()
    assert -20 <= (shifted - day).days <= -10
    later = dt.datetime.strptime(out_b.StudyDate, "%Y%m%d").date()
    assert (later - shifted).days == 12
    assert out_a.StudyTime == "101500"  # whole-day shift: the time of day stays


def test_unknown_option_on_the_command_line_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(patient(), tmp_path / "in" / "a.dcm")
    assert _run(tmp_path / "in", tmp_path, "--option", "retain_everything") == 2
    assert "unknown profile option" in capsys.readouterr().err


def test_context_enum_is_used_for_sequences() -> None:
    assert HeaderProfile().decide(0x0040A730, "ContentSequence", "SQ").context is Context.DUMMY


# ------------------------------------------------------------- review regressions


def test_a_clean_the_value_cannot_take_falls_back_to_the_basic_profile() -> None:
    ds = patient()
    ds.add_new(0x0016002B, "OB", b"QUARTZ maker note")  # MakerNote: C under descriptors
    ds.add_new(0x00340007, "OB", b"20240520101500")  # FrameOriginTimestamp: C under dates
    anonymizer().anonymize(ds, pixels_cleaned=False)
    assert 0x0016002B not in ds  # basic X
    assert ds[0x00340007].value == b"\x00\x00"  # basic D: a dummy, not the real timestamp


def test_dates_follow_the_date_option_even_when_another_option_keeps_the_row() -> None:
    ds = patient()
    ds.DateOfLastCalibration = "20240110"
    anonymizer(resolve_options(None, ["retain_device_identity"])).anonymize(
        ds, pixels_cleaned=False
    )
    assert ds.DateOfLastCalibration not in ("20240110", "")
    assert ds.DeviceSerialNumber == "SN998877"


def test_file_meta_keeps_only_what_a_file_needs() -> None:
    ds = patient()
    ds.file_meta.SourceApplicationEntityTitle = "QUARTZWS"
    ds.file_meta.add_new(0x00020033, "UI", "1.2.826.0.1.3680043.8.498.123")  # RTV meta
    ds.add_new(0x00020100, "UI", "1.2.3.4.5")  # group 0002 in the body: malformed
    anonymizer().anonymize(ds, pixels_cleaned=False)
    assert {int(e.tag) for e in ds.file_meta} <= {
        0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013
    }  # fmt: skip
    assert 0x00020100 not in ds


def test_private_sequence_stored_as_un_is_never_kept_unwalked() -> None:
    ds = patient()
    ds.add_new(0x00330010, "LO", "VENDOR SAFE")
    item = b"\xfe\xff\x00\xe0\x10\x00\x00\x00" + b"\x10\x00\x10\x00\x08\x00\x00\x00QUARTZ^W"
    ds.add_new(0x00331001, "UN", item)
    declared = Dataset()
    declared.PrivateGroupReference = 0x0033
    declared.PrivateCreatorReference = "VENDOR SAFE"
    declared.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([declared])
    anonymizer(resolve_options(None, ["retain_safe_private"])).anonymize(ds, pixels_cleaned=False)
    assert 0x00331001 not in ds


def test_names_in_other_scripts_and_with_accents_are_cleaned() -> None:
    ds = patient()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Иванов^Пётр"
    ds.StudyDescription = "КТ Иванов follow-up"
    ds.ImageComments = "for Müller, Smith-Jones"
    ds.OperatorsName = "Müller^Hans"
    ds.ReferringPhysicianName = "Smith-Jones^Mary"
    anonymizer().anonymize(ds, pixels_cleaned=False)
    assert "Иванов" not in ds.StudyDescription and ds.StudyDescription.startswith("КТ")
    assert "Müller" not in ds.ImageComments and "Jones" not in ds.ImageComments


def test_recognizable_features_are_not_declared_clean_when_the_object_says_yes() -> None:
    ds = patient()
    ds.RecognizableVisualFeatures = "YES"
    options = resolve_options(None, ["clean_recognizable_visual_features"])
    anonymizer(options).anonymize(ds, pixels_cleaned=False)
    assert "113102" not in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    other = patient()
    anonymizer(options).anonymize(other, pixels_cleaned=False)
    assert "113102" in [i.CodeValue for i in other.DeidentificationMethodCodeSequence]


def test_keep_rules_on_sequences_still_walk_the_items_and_bad_rules_are_refused() -> None:
    rules = parse_profile({"rules": [{"keyword": "RequestAttributesSequence", "action": "keep"}]})
    ds = patient()
    item = Dataset()
    item.RequestingPhysician = "QUARTZ^ANNA"
    item.RequestedProcedureID = "RP1"
    ds.RequestAttributesSequence = Sequence([item])
    anonymizer(rules=rules.rules).anonymize(ds, pixels_cleaned=False)
    kept = ds.RequestAttributesSequence[0]
    assert "RequestingPhysician" not in kept and kept.RequestedProcedureID != "RP1"
    with pytest.raises(ConfigError, match="cannot apply to a sequence"):
        parse_profile({"rules": [{"keyword": "RequestAttributesSequence", "action": "replace",
                                  "value": "x"}]})  # fmt: skip


def test_a_date_shift_range_that_includes_zero_is_refused(tmp_path: Path) -> None:
    _write(patient(), tmp_path / "in" / "a.dcm")
    assert _run(tmp_path / "in", tmp_path, "--date-shift-days=-5,5") == 2


def test_crosswalk_does_not_block_a_second_writer_and_follows_the_latest_run(
    tmp_path: Path,
) -> None:
    rows = CrosswalkRows("id:1", "1", "", "anon_A", -400)
    with Crosswalk(tmp_path) as first:
        first.add(rows)
        first.flush()
        with Crosswalk(tmp_path) as second:  # opened while the first is still open
            second.add(CrosswalkRows("id:1", "1", "", "anon_A", -900))
    rows_out = (
        list(csv.DictReader((tmp_path / "x" / "patients.csv").open()))
        if export_csv(tmp_path, tmp_path / "x")
        else []
    )
    assert [r["date_offset_days"] for r in rows_out] == ["-900"]


def test_a_sequence_item_can_declare_its_own_private_block_safe() -> None:
    ds = patient()
    item = Dataset()
    item.add_new(0x00330010, "LO", "VENDOR NESTED")
    item.add_new(0x00331001, "DS", "4.5")
    declared = Dataset()
    declared.PrivateGroupReference = 0x0033
    declared.PrivateCreatorReference = "VENDOR NESTED"
    declared.BlockIdentifyingInformationStatus = "SAFE"
    item.PrivateDataElementCharacteristicsSequence = Sequence([declared])
    ds.SourceImageSequence = Sequence([item])
    anonymizer(resolve_options(None, ["retain_safe_private"])).anonymize(ds, pixels_cleaned=False)
    assert ds.SourceImageSequence[0][0x00331001].value == 4.5
