"""Canary tests: no planted value survives header de-identification beyond what the
profile (with the options the output declares) allows.

``factories.canary_dataset`` plants a unique canary in every element that can hold one;
each test runs the real command line (``--no-pixels``) and looks for every canary in the
release folder: text and UID canaries as raw bytes anywhere in any file (preamble and
file meta included), digit-only canaries (dates, times, numbers, ages) in the parsed
values of every element but UIDs (a remapped UID's digits could hold them by chance).

What may survive is decided per canary by :meth:`factories.Canary.may_remain` from the
committed Table E.1-1 and the options in effect: the ones asked for plus the ones the
output declares in its De-identification Method Code Sequence (CID 7050).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomscrub.cli import main
from factories import (
    Canary,
    canary_dataset,
    descriptor_phi_dataset,
    write_dataset,
)

#: CID 7050 code value -> profile option name, as the command line spells it.
OPTION_CODES = {
    "113103": "clean_graphics",
    "113104": "clean_structured_content",
    "113105": "clean_descriptors",
    "113106": "retain_long_full_dates",
    "113107": "retain_long_modified_dates",
    "113108": "retain_patient_characteristics",
    "113109": "retain_device_identity",
    "113110": "retain_uids",
    "113111": "retain_safe_private",
    "113112": "retain_institution_identity",
}
BASIC_PROFILE_CODE = "113100"
OPTIONS = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)


@dataclass(frozen=True, slots=True)
class Run:
    exit_code: int
    release: Path
    headers: Path


def run_cli(
    tmp_path: Path, ds: Dataset, options: Sequence[str] = (), without: Sequence[str] = ()
) -> Run:
    """Write ``ds`` to ``<tmp>/in/x.dcm`` and de-identify its header with the CLI."""
    write_dataset(ds, tmp_path / "in" / "x.dcm")
    release, headers = tmp_path / "out", tmp_path / "hdr"
    argv = [
        "run",
        "--input", str(tmp_path / "in"),
        "--output", str(release),
        "--headers", str(headers),
        "--no-pixels",
        "--no-progress",
    ]  # fmt: skip
    for option in options:
        argv += ["--option", option]
    for option in without:
        argv += ["--without-option", option]
    return Run(main(argv), release, headers)


def output_file(run: Run) -> Path:
    """The de-identified file: named by the sidecar, else the one DICOM file released."""
    sidecars = sorted(run.headers.rglob("*_bboxes.json"))
    if sidecars:
        assert len(sidecars) == 1, f"one input, {len(sidecars)} sidecars"
        return Path(json.loads(sidecars[0].read_text(encoding="utf-8"))["output"])
    found = sorted(run.release.rglob("*.dcm"))
    assert len(found) == 1, f"one input, {len(found)} outputs: {found}"
    return found[0]


def parsed_text(path: Path) -> str:
    """Every element value but UIDs (file meta and all sequence depths), one per line."""
    ds = pydicom.dcmread(path, force=True)
    parts: list[str] = []
    for source in (ds.file_meta, ds):
        for elem in source.iterall():
            if elem.VR in ("SQ", "UI"):
                continue
            value = elem.value
            if isinstance(value, bytes):
                parts.append(value.decode("latin-1"))
            elif isinstance(value, (list, tuple, MultiValue)):
                parts.append("\\".join(str(v) for v in value))
            else:
                parts.append(str(value))
    return "\n".join(parts)


def survivors(canaries: Iterable[Canary], release: Path, dicom: Path) -> list[Canary]:
    """The canaries found in the release folder (see the module docstring for how)."""
    files = [p for p in sorted(release.rglob("*")) if p.is_file()]
    raw = b"\0".join(p.read_bytes() for p in files)
    others = "\n".join(p.read_bytes().decode("latin-1") for p in files if p != dicom)
    text = parsed_text(dicom) + "\n" + others
    return [c for c in canaries if (c.value in text if c.formatted else c.value.encode() in raw)]


def declared_options(path: Path) -> tuple[set[str], set[str]]:
    """``(options, all code values)`` of the output's De-identification Method Code Sequence."""
    ds = pydicom.dcmread(path, force=True)
    codes = {
        str(item.get("CodeValue", "")) for item in ds.get("DeidentificationMethodCodeSequence", [])
    }
    return {OPTION_CODES[c] for c in codes if c in OPTION_CODES}, codes


def leak_report(leaks: Sequence[Canary], total: int, options: set[str]) -> str:
    chosen = ", ".join(sorted(options)) or "none"
    lines = [f"{len(leaks)} of {total} canaries survived that options [{chosen}] do not allow:"]
    lines += [f"  {c.describe()}" for c in sorted(leaks, key=lambda c: (c.location, c.path))]
    return "\n".join(lines)


def check_no_leaks(run: Run, canaries: dict[str, Canary], asked: Sequence[str] = ()) -> None:
    assert run.exit_code == 0, f"dicomscrub exited {run.exit_code}"
    dicom = output_file(run)
    declared, codes = declared_options(dicom)
    in_effect = declared | set(asked)
    found = survivors(canaries.values(), run.release, dicom)
    leaks = [c for c in found if not c.may_remain(in_effect)]
    assert not leaks, leak_report(leaks, len(canaries), in_effect)
    assert BASIC_PROFILE_CODE in codes, "the output does not declare the basic profile (113100)"
    missing = set(asked) - declared
    assert not missing, f"options applied but not declared in the output: {sorted(missing)}"


# --------------------------------------------------------------------------- tests


def test_every_canary_is_planted_and_found_in_the_input(tmp_path: Path) -> None:
    """The detector finds every canary in the untouched input, and canaries are unique."""
    planted = canary_dataset()
    path = write_dataset(planted.dataset, tmp_path / "in" / "x.dcm")
    found = survivors(planted.canaries.values(), path.parent, path)
    missing = sorted(set(planted.canaries) - {c.value for c in found})
    assert not missing, [planted.canaries[v].describe() for v in missing]
    values = list(planted.canaries)
    assert not [(a, b) for a in values for b in values if a != b and a in b]
    assert max(c.depth for c in planted.canaries.values()) >= 5


def test_no_canary_survives_the_default_profile(tmp_path: Path) -> None:
    planted = canary_dataset()
    check_no_leaks(run_cli(tmp_path, planted.dataset), planted.canaries)


@pytest.mark.parametrize("option", OPTIONS)
def test_an_option_keeps_only_what_its_rows_allow(tmp_path: Path, option: str) -> None:
    planted = canary_dataset()
    check_no_leaks(run_cli(tmp_path, planted.dataset, [option]), planted.canaries, [option])


@pytest.mark.parametrize(
    ("options", "without"),
    [((), ()), (("clean_descriptors",), ()), ((), ("clean_descriptors",))],
    ids=["default", "clean", "basic-removes"],
)
def test_descriptors_keep_no_phi_of_the_patient(
    tmp_path: Path, options: tuple[str, ...], without: tuple[str, ...]
) -> None:
    case = descriptor_phi_dataset()
    run = run_cli(tmp_path, case.dataset, options, without)
    assert run.exit_code == 0, f"dicomscrub exited {run.exit_code}"
    assert output_file(run).is_file()
    text = b"\0".join(p.read_bytes() for p in run.release.rglob("*") if p.is_file()).lower()
    leaked = [
        f"{label}: {piece!r}" for label, piece in case.phi.items() if piece.lower().encode() in text
    ]
    assert not leaked, "patient identifiers survived in the release folder:\n  " + "\n  ".join(
        leaked
    )
