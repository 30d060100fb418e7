"""Regression tests: the tool fails closed and leaks nothing in the awkward cases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomscrub.cli import main
from dicomscrub.io.frames import has_unused_bits
from dicomscrub.samples import fake_patients, make_ct, make_ultrasound

SECRET = "QUILLNORA"


MODES = pytest.mark.parametrize("mode", [(), ("--no-pixels",)], ids=["two-pass", "header-only"])


def run(tmp: Path, engine: str, *extra: str) -> int:
    return main(
        ["run", "--input", str(tmp / "in"), "--output", str(tmp / "out"),
         "--headers", str(tmp / "hdr"), "--jobs", "1", "--no-progress",
         "--ocr-engine", engine, *extra]
    )  # fmt: skip


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_an_input_file_is_never_overwritten_by_its_own_output(tmp_path: Path) -> None:
    src = save(make_ct(uid_seed="self").dataset, tmp_path / "ct.dcm")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    code = main(["run", "--input", str(src), "--output", str(tmp_path),
                 "--headers", str(tmp_path.parent / "hdr-self"), "--no-pixels"])  # fmt: skip
    assert code == 2
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("flag", ["--key-file", "--pdf-report", "--headers"])
def test_private_files_are_refused_inside_the_release_folder(tmp_path: Path, flag: str) -> None:
    save(make_ct(uid_seed="p").dataset, tmp_path / "in" / "ct.dcm")
    args = {"--headers": str(tmp_path / "hdr"), flag: str(tmp_path / "out" / "private")}
    extra = [x for kv in args.items() for x in kv]
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--no-pixels", *extra])  # fmt: skip
    assert code == 2


def test_identifying_elements_the_table_does_not_list_are_removed(
    tmp_path: Path, ink_engine: str
) -> None:
    ds = make_ct(uid_seed="extra").dataset
    ds.PatientBirthDateInAlternativeCalendar = f"{SECRET} 1402"
    ds.LocalNamespaceEntityID = SECRET
    ds.TextValue = f"seen by {SECRET}"
    item = Dataset()
    item.TextValue = f"nested {SECRET}"
    item.CommentsOnTheScheduledProcedureStep = SECRET
    ds.ReferencedImageSequence = Sequence([item])
    ds.add_new(0x60000022, "LO", f"overlay of {SECRET}")  # OverlayDescription
    ds.add_new(0x00211234, "UN", SECRET.encode())  # an unknown even-group element
    ds.TransducerData = ds.PatientName.family_name  # short text holding the name
    save(ds, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine) == 0
    data = (tmp_path / "out" / "ct.dcm").read_bytes()
    assert SECRET.encode() not in data
    assert str(ds.PatientName.family_name).encode() not in data
    out = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    assert not any(int(e.tag) >> 16 == 0x6000 for e in out)


def test_bits_above_high_bit_that_hold_an_overlay_are_cleared(
    tmp_path: Path, ink_engine: str
) -> None:
    ds = make_ct(uid_seed="ovl").dataset  # signed 16 bit; make it unsigned 12-of-16
    arr = np.clip(ds.pixel_array.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)
    arr[100:110, 40:200] |= 0x8000  # an "embedded overlay" in bit 15
    ds.PixelRepresentation = 0
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelData = arr.tobytes()
    ds.add_new(0x60000102, "US", 15)  # OverlayBitPosition
    save(ds, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine, "--no-pixels") == 0
    out = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    raw = np.frombuffer(out.PixelData, dtype="<u2")
    assert not (raw & 0xF000).any()
    assert np.array_equal(raw.reshape(arr.shape), arr & 0x0FFF)


@pytest.mark.parametrize("stray", [True, False], ids=["stray-bit", "clean"])
def test_undeclared_high_bits_are_found_in_the_data_and_only_then_rewritten(
    tmp_path: Path, ink_engine: str, stray: bool
) -> None:
    ds = make_ct(uid_seed="hb").dataset
    arr = np.clip(ds.pixel_array.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)
    if stray:
        arr[-1, -1] |= 0x2000  # one sample, last in the file, no overlay declared
    ds.PixelRepresentation = 0
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelData = arr.tobytes()
    save(ds, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine, "--no-pixels") == 0
    raw = np.frombuffer(pydicom.dcmread(tmp_path / "out" / "ct.dcm").PixelData, dtype="<u2")
    assert np.array_equal(raw.reshape(arr.shape), arr & 0x0FFF)


def test_signed_samples_outside_bits_stored_are_detected(tmp_path: Path) -> None:
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    inside = np.array([-2048, -1, 0, 2047], dtype="<i2")
    assert not has_unused_bits(inside, ds)
    outside = np.array([-2049, 0, 2048, 5], dtype="<i2")
    assert has_unused_bits(outside, ds)


def test_meta_instance_uid_is_remapped_when_the_data_set_has_none(
    tmp_path: Path, ink_engine: str
) -> None:
    ds = make_ct(uid_seed="meta").dataset
    original = ds.SOPInstanceUID
    del ds.SOPInstanceUID
    path = tmp_path / "in" / "ct.dcm"
    path.parent.mkdir(parents=True)
    ds.save_as(path, enforce_file_format=False)
    assert run(tmp_path, ink_engine) == 0
    assert original.encode() not in (tmp_path / "out" / "ct.dcm").read_bytes()


def test_burned_in_annotation_is_not_claimed_when_nothing_was_redacted(
    tmp_path: Path, ink_engine: str
) -> None:
    ds = make_ultrasound(fake_patients(1)[0], uid_seed="bia").dataset
    ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()  # searched, nothing found
    ds.BurnedInAnnotation = "YES"
    save(ds, tmp_path / "in" / "us.dcm")
    assert run(tmp_path, ink_engine) == 0
    out = pydicom.dcmread(tmp_path / "out" / "us.dcm")
    assert out.BurnedInAnnotation == "YES"
    assert "113101" not in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


def test_pixel_data_longer_than_its_frame_count_fails_the_file(
    tmp_path: Path, ink_engine: str
) -> None:
    ds = make_ultrasound(fake_patients(1)[0], frames=3, uid_seed="nf").dataset
    ds.NumberOfFrames = 1  # two frames would go out unredacted
    save(ds, tmp_path / "in" / "us.dcm")
    assert run(tmp_path, ink_engine) == 1
    assert not (tmp_path / "out" / "us.dcm").exists()
    assert not list((tmp_path / "out").rglob("*.part"))


def test_a_failed_redo_removes_the_earlier_output(tmp_path: Path, ink_engine: str) -> None:
    sample = make_ct(uid_seed="redo")
    path = save(sample.dataset, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine) == 0
    assert (tmp_path / "out" / "ct.dcm").exists()
    broken = sample.dataset
    broken.PixelData = broken.PixelData[:100]
    save(broken, path)
    assert run(tmp_path, ink_engine, "--overwrite") == 1
    assert not (tmp_path / "out" / "ct.dcm").exists()


def test_a_rerun_with_other_settings_or_release_folder_does_not_skip(
    tmp_path: Path, ink_engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save(make_ultrasound(fake_patients(1)[0], uid_seed="rs").dataset, tmp_path / "in" / "us.dcm")
    assert run(tmp_path, ink_engine, "--no-pixels") == 0
    capsys.readouterr()
    assert run(tmp_path, ink_engine) == 0  # pixels now on: must be redone
    assert "1 done, 0 skipped" in capsys.readouterr().out
    assert run(tmp_path, ink_engine) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out2"),
                 "--headers", str(tmp_path / "hdr"), "--jobs", "1", "--no-progress",
                 "--ocr-engine", ink_engine])  # fmt: skip
    assert code == 0 and "1 done, 0 skipped" in capsys.readouterr().out
    assert (tmp_path / "out2" / "us.dcm").exists()


@MODES
def test_a_failed_file_is_printed_under_its_renamed_folder(
    tmp_path: Path, ink_engine: str, mode: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    person = fake_patients(1, seed=13)[0]
    folder = tmp_path / "in" / f"{person.name_parts[0]}_{person.name_parts[1]}"
    save(make_ct(person, uid_seed="ok").dataset, folder / "ok.dcm")
    broken = make_ct(person, uid_seed="bad").dataset
    del broken.Rows
    if mode:  # header-only runs never look at Rows: give it what they refuse instead
        broken.FloatPixelData = bytes(4 * 16)
        del broken.PixelData
    save(broken, folder / "bad.dcm")
    assert run(tmp_path, ink_engine, *mode) == 1
    out = capsys.readouterr().out
    assert "bad.dcm" in out and person.name_parts[0] not in out


def test_a_worker_process_that_dies_fails_only_its_file(tmp_path: Path) -> None:
    import os

    from dicomscrub.batch.executors import CRASH_REASON, run_tasks
    from dicomscrub.config import BatchConfig, DeidConfig

    config = DeidConfig(batch=BatchConfig(jobs=2))
    results = sorted(run_tasks(_die_on_three, list(range(6)), config, lambda t, r: (t, r)))
    assert results == [(0, "ok"), (1, "ok"), (2, "ok"), (3, CRASH_REASON), (4, "ok"), (5, "ok")]
    assert os.getpid()  # the test process itself is alive


def test_costly_tasks_start_first_and_short_batches_share_the_cost_evenly() -> None:
    from dicomscrub.batch.executors import MAX_BATCH, _batches

    # 4 large tasks that come last and together (one folder), among 196 small ones: the
    # pool must not hand all four to one worker at the end of the run.
    sizes = [1] * 196 + [30] * 4
    tasks = list(range(len(sizes)))
    batches = list(_batches(tasks, 2, True, lambda t: sizes[t]))
    assert sorted(t for b in batches for t in b) == tasks
    assert [b for b in batches[:4]] == [[196], [197], [198], [199]]
    assert all(len(b) <= MAX_BATCH for b in batches)
    budget = sum(sizes) / (2 * 8)
    assert all(sum(sizes[t] for t in b) <= budget for b in batches if len(b) > 1)
    # Without a cost the tasks keep their order; one-by-one stays one by one.
    assert [t for b in _batches(tasks, 2, True, None) for t in b] == tasks
    assert all(len(b) == 1 for b in _batches(tasks, 2, False, lambda t: sizes[t]))


def _die_on_three(task: int, config: object) -> tuple[int, str]:
    import os

    if task == 3:
        os._exit(139)
    return task, "ok"


@MODES
def test_the_sidecar_records_what_the_run_did(
    tmp_path: Path, ink_engine: str, mode: tuple[str, ...]
) -> None:
    save(make_ct(uid_seed="sc").dataset, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine, *mode) == 0
    side = json.loads((tmp_path / "hdr" / "ct.dcm_bboxes.json").read_text())
    assert Path(side["output"]) == (tmp_path / "out" / "ct.dcm").resolve()


def test_an_input_inside_the_release_folder_is_refused(tmp_path: Path) -> None:
    save(make_ct(uid_seed="in-out").dataset, tmp_path / "rel" / "in" / "ct.dcm")
    inside = str(tmp_path / "rel" / "in")
    code = main(["run", "--input", inside, "--output", str(tmp_path / "rel"),
                 "--headers", str(tmp_path / "hdr"), "--no-pixels"])  # fmt: skip
    assert code == 2


@MODES
def test_a_new_file_in_a_folder_renamed_by_an_earlier_run_lands_in_the_renamed_folder(
    tmp_path: Path, ink_engine: str, mode: tuple[str, ...]
) -> None:
    first, second = fake_patients(2, seed=17)
    folder = tmp_path / "in" / f"{first.name_parts[0]}_{first.name_parts[1]}"
    save(make_ct(first, uid_seed="a").dataset, folder / "a.dcm")
    assert run(tmp_path, ink_engine, *mode) == 0
    save(make_ct(second, uid_seed="b").dataset, folder / "b.dcm")  # another patient
    assert run(tmp_path, ink_engine, *mode) == 0
    released = sorted(p.relative_to(tmp_path / "out").as_posix()
                      for p in (tmp_path / "out").rglob("*.dcm"))  # fmt: skip
    assert len(released) == 2
    assert all(first.name_parts[0] not in r for r in released)
    assert released[0].split("/")[0] == released[1].split("/")[0]


def test_a_changed_input_file_is_done_again(
    tmp_path: Path, ink_engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = save(make_ct(uid_seed="v1").dataset, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine) == 0
    save(make_ct(uid_seed="v2").dataset, path)
    capsys.readouterr()
    assert run(tmp_path, ink_engine) == 0
    assert "1 done, 0 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["MARY", "ROME^ANNA", "MONO^CHROME"])
def test_short_text_screening_never_removes_coded_or_required_attributes(
    tmp_path: Path, ink_engine: str, name: str
) -> None:
    ds = make_ct(uid_seed="screen").dataset
    ds.PatientName = name
    ds.OperatorsName = name
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyID = "100"
    save(ds, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine, "--no-pixels") == 0
    out = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    assert list(out.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert out.PhotometricInterpretation == "MONOCHROME2"
    assert out.SpecificCharacterSet == "ISO_IR 100"
    assert out.pixel_array.shape == (256, 256)


def test_missing_frames_in_compressed_data_fail_the_file(tmp_path: Path, ink_engine: str) -> None:
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import RLELossless

    ds = make_ultrasound(fake_patients(1)[0], frames=3, uid_seed="short").dataset
    ds.compress(RLELossless)
    fragments = list(generate_frames(ds.PixelData, number_of_frames=3))[:2]
    ds.PixelData = encapsulate(fragments)  # NumberOfFrames still says 3
    save(ds, tmp_path / "in" / "us.dcm")
    assert run(tmp_path, ink_engine) == 1
    assert not (tmp_path / "out" / "us.dcm").exists()


@MODES
def test_a_folder_in_the_way_of_an_output_fails_only_that_file(
    tmp_path: Path, ink_engine: str, mode: tuple[str, ...]
) -> None:
    save(make_ct(uid_seed="x1").dataset, tmp_path / "in" / "a.dcm")
    save(make_ct(uid_seed="x2").dataset, tmp_path / "in" / "b.dcm")
    (tmp_path / "out" / "a.dcm").mkdir(parents=True)
    assert run(tmp_path, ink_engine, *mode) == 1
    assert (tmp_path / "out" / "b.dcm").is_file()


@pytest.mark.parametrize("short", [False, True], ids=["one-by-one", "batched"])
@pytest.mark.parametrize("cost", [None, lambda t: (t * 7919) % 101], ids=["in order", "by cost"])
def test_many_tasks_with_one_crash_lose_no_result(short: bool, cost: object) -> None:
    from dicomscrub.batch.executors import CRASH_REASON, run_tasks
    from dicomscrub.config import BatchConfig, DeidConfig

    config = DeidConfig(batch=BatchConfig(jobs=2))
    tasks = list(range(40))
    results = list(
        run_tasks(_die_on_three, tasks, config, lambda t, r: (t, r), short=short, cost=cost)  # type: ignore[arg-type]
    )
    assert sorted(t for t, _ in results) == list(range(40))
    assert dict(results)[3] == CRASH_REASON
    assert sum(reason == CRASH_REASON for _, reason in results) == 1


NO_MARGINS = ["--top-ratio", "0", "--bottom-ratio", "0", "--left-ratio", "0", "--right-ratio", "0"]


@pytest.mark.parametrize(
    "flags",
    [
        [*NO_MARGINS, "--margins-only"],
        ["--tesseract-psm", "99"],
    ],
)
def test_settings_that_cannot_work_are_usage_errors(
    tmp_path: Path, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    save(make_ct(uid_seed="u").dataset, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, "tesseract", *flags) == 2
    assert "error" in capsys.readouterr().err


def test_headers_inside_the_input_folder_are_refused(tmp_path: Path) -> None:
    save(make_ct(uid_seed="h").dataset, tmp_path / "in" / "ct.dcm")
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--headers", str(tmp_path / "in" / "hdr"), "--no-pixels"])  # fmt: skip
    assert code == 2


def test_the_headers_folder_and_its_subfolders_are_owner_only(
    tmp_path: Path, ink_engine: str
) -> None:
    import stat

    (tmp_path / "hdr").mkdir(mode=0o755)
    save(make_ct(uid_seed="perm").dataset, tmp_path / "in" / "sub" / "ct.dcm")
    report = tmp_path / "report.pdf"
    assert run(tmp_path, ink_engine, "--pdf-report", str(report)) == 0
    folders = [tmp_path / "hdr", *[p for p in (tmp_path / "hdr").rglob("*") if p.is_dir()]]
    assert len(folders) >= 3  # the root, sub/, .previews/ and .previews/sub/
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@MODES
def test_outputs_move_to_their_renamed_folder_and_nothing_is_left_staged(
    tmp_path: Path, ink_engine: str, mode: tuple[str, ...]
) -> None:
    person = fake_patients(1, seed=23)[0]
    folder = tmp_path / "in" / f"{person.name_parts[0]}_{person.name_parts[1]}" / "series"
    for n in range(3):
        save(make_ct(person, uid_seed=f"st{n}").dataset, folder / f"im{n}.dcm")
    assert run(tmp_path, ink_engine, *mode) == 0
    names = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out").rglob("*") if p.is_file())  # fmt: skip
    assert len(names) == 3 and all(n.endswith(".dcm") for n in names)
    assert all(person.name_parts[0] not in n for n in names)
    assert not list((tmp_path / "out").rglob(".dicomscrub-staging"))
    for n in range(3):
        rel = f"{folder.relative_to(tmp_path / 'in').as_posix()}/im{n}.dcm"
        side = json.loads((tmp_path / "hdr" / f"{rel}_bboxes.json").read_text())
        assert Path(side["output"]).is_file()
        assert Path(side["output"]).relative_to((tmp_path / "out").resolve()).as_posix() in names


@pytest.mark.parametrize("start", [0, 1, 2, 4094, 4097])
@pytest.mark.parametrize("bits", [(16, 12), (32, 20)])
def test_the_stored_bits_scan_finds_a_stray_bit_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: int, bits: tuple[int, int]
) -> None:
    from dicomscrub.io import pixelstream

    monkeypatch.setattr(pixelstream, "_SCAN_BYTES", 1 << 16)  # many windows, odd seams
    allocated, stored = bits
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, stored, stored - 1
    dtype = np.dtype(f"<u{allocated // 8}")
    samples = np.random.default_rng(start).integers(0, 1 << stored, 50_000).astype(dtype)
    for stray in (None, 0, 16_383, 16_384, 49_999):
        data = samples.copy()
        if stray is not None:
            data[stray] |= dtype.type(1 << (allocated - 1))
        path = tmp_path / "pixels.bin"
        path.write_bytes(b"x" * start + data.tobytes())
        found = pixelstream._mapped_unclean(path, start, data.nbytes, dtype, ds)
        assert found == (stray is not None), stray


@MODES
def test_a_folder_flagged_by_one_file_renames_every_file_in_it_and_their_sidecars_follow(
    tmp_path: Path, ink_engine: str, mode: tuple[str, ...]
) -> None:
    owner, other = fake_patients(2, seed=29)
    folder = tmp_path / "in" / f"{owner.name_parts[0]}_{owner.name_parts[1]}"
    save(make_ct(owner, uid_seed="own").dataset, folder / "a.dcm")
    save(make_ct(other, uid_seed="oth").dataset, folder / "b.dcm")  # does not flag it
    assert run(tmp_path, ink_engine, *mode) == 0
    for name in ("a.dcm", "b.dcm"):
        rel = f"{folder.name}/{name}"
        side = json.loads((tmp_path / "hdr" / f"{rel}_bboxes.json").read_text())
        output = Path(side["output"])
        assert output.is_file() and owner.name_parts[0] not in str(output)


def _text_on_black(tmp_path: Path) -> Path:
    """A small MONOCHROME2 image: two lines of bright text on black, nothing else."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (256, 128), 0)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((8, 6), "DOE JOHN 4471920", fill=255, font=font)
    draw.text((8, 104), "03/18/2024 12:01", fill=255, font=font)
    ds = make_ct(uid_seed="look").dataset
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 128, 256, 8, 8, 7
    ds.PixelRepresentation = 0
    for keyword in ("RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PixelData = np.asarray(image, dtype=np.uint8).tobytes()
    return save(ds, tmp_path / "in" / "look.dcm")


def test_the_second_look_releases_a_file_whose_text_is_all_covered(
    tmp_path: Path, fake_engines: tuple[str, str]
) -> None:
    _text_on_black(tmp_path)
    assert run(tmp_path, fake_engines[0]) == 0
    assert (tmp_path / "out" / "look.dcm").is_file()


def test_the_second_look_fails_a_file_whose_boxes_missed_part_of_a_line(
    tmp_path: Path, fake_engines: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _text_on_black(tmp_path)
    assert run(tmp_path, fake_engines[1], "--expand", "0", "--padding", "0") == 1
    # What the second look read was redacted too, and the last look still read PHI.
    assert "redacting what an earlier look found" in capsys.readouterr().out
    assert not (tmp_path / "out" / "look.dcm").exists()
    assert not list((tmp_path / "out").rglob("*.part"))
    assert run(tmp_path, fake_engines[1], "--expand", "0", "--padding", "0",
               "--no-second-look", "--overwrite") == 0  # fmt: skip


def test_extra_frames_in_copied_pixel_data_fail_the_file(tmp_path: Path, ink_engine: str) -> None:
    ds = make_ct(uid_seed="extra").dataset  # no text: nothing to redact, copied as stored
    blank = np.zeros((2, int(ds.Rows), int(ds.Columns)), dtype=np.uint16)
    ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 0, 12, 11
    ds.PixelData = blank.tobytes()  # two frames, NumberOfFrames absent: one declared
    save(ds, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine) == 1
    assert not (tmp_path / "out" / "ct.dcm").exists()


def test_outputs_left_staged_by_a_killed_run_are_removed_by_the_next(
    tmp_path: Path, ink_engine: str
) -> None:
    staged = tmp_path / "out" / ".dicomscrub-staging" / "0123456789abcdef.dcm"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"left by a run that was killed")
    save(make_ct(uid_seed="stg").dataset, tmp_path / "in" / "ct.dcm")
    assert run(tmp_path, ink_engine) == 0  # a pixel run, which stages nothing itself
    assert not staged.parent.exists()
