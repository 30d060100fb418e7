"""The Dask distributed executor runs the same per-file steps as the local pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicomscrub.cli import main
from dicomscrub.samples import fake_patients, make_ct, make_ultrasound

distributed = pytest.importorskip("distributed")


def test_a_run_on_a_dask_cluster_matches_a_local_run(tmp_path: Path, ink_engine: str) -> None:
    people = fake_patients(2, seed=4)
    (tmp_path / "in" / "a").mkdir(parents=True)
    make_ultrasound(people[0], uid_seed="d1").dataset.save_as(
        tmp_path / "in" / "a" / "us.dcm", enforce_file_format=True
    )
    make_ct(people[1], uid_seed="d2").dataset.save_as(
        tmp_path / "in" / "ct.dcm", enforce_file_format=True
    )
    common = ["--input", str(tmp_path / "in"), "--no-progress", "--ocr-engine", ink_engine,
              "--key-file", str(tmp_path / "key")]  # fmt: skip
    assert main(["run", *common, "--jobs", "1", "--output", str(tmp_path / "local"),
                 "--headers", str(tmp_path / "hl")]) == 0  # fmt: skip
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        out = ["--output", str(tmp_path / "dask"), "--headers", str(tmp_path / "hd")]
        assert main(["run", *common, "--scheduler", address, *out]) == 0
    for rel in ("a/us.dcm", "ct.dcm"):
        assert (tmp_path / "local" / rel).read_bytes() == (tmp_path / "dask" / rel).read_bytes()
        local = json.loads((tmp_path / "hl" / f"{rel}_bboxes.json").read_text())
        remote = json.loads((tmp_path / "hd" / f"{rel}_bboxes.json").read_text())
        assert local["boxes"] == remote["boxes"]


def test_an_unreachable_scheduler_is_a_usage_error(tmp_path: Path, ink_engine: str) -> None:
    make_ct(uid_seed="x").dataset.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    code = main(["run", "--input", str(tmp_path / "ct.dcm"), "--output", str(tmp_path / "o"),
                 "--headers", str(tmp_path / "h"), "--ocr-engine", ink_engine, "--no-progress",
                 "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip
    assert code == 2
