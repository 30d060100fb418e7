"""Time each step of the header-only redact pass, per file, on a folder of DICOM files.

Usage::

    .venv/bin/python bench/header_steps.py FOLDER [--out /dev/shm/header-steps]

Prints milliseconds per file for: reading the header, collecting the sidecar values,
the profile walk, writing the output (header and pixel data copy) and the sidecar.
A diagnostic for the header-only benchmark (``bench_headers.py``), not a benchmark of
its own: it skips discovery, the detect pass and the process pool.
"""

from __future__ import annotations

import argparse
import shutil
import time
import warnings
from pathlib import Path

from dicomscrub.audit.sidecar import write_sidecar
from dicomscrub.batch.worker import PIXEL_DATA_TAG, _anonymizer, _write_copied
from dicomscrub.config import HeaderConfig
from dicomscrub.header.keys import load_or_create_key
from dicomscrub.header.phi import sidecar_phi
from dicomscrub.io.read import read_header

STEPS = ("read", "sidecar values", "profile walk", "write", "sidecar")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("/tmp/header-steps"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    files = sorted(p for p in args.folder.rglob("*.dcm") if p.is_file())
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    key = args.out / "key"
    load_or_create_key(key)
    anonymizer = _anonymizer(HeaderConfig(), key)
    totals = dict.fromkeys(STEPS, 0.0)
    done = 0
    for n, path in enumerate(files):
        marks = [time.perf_counter()]
        ds = read_header(path)
        marks.append(time.perf_counter())
        phi = sidecar_phi(ds)
        marks.append(time.perf_counter())
        raw = ds.get_item(PIXEL_DATA_TAG, keep_deferred=True)
        if raw is None or raw.value is not None:
            continue  # small or absent pixel data: not the copy path this script times
        anonymizer.anonymize(ds, pixels_cleaned=False)
        marks.append(time.perf_counter())
        out = args.out / f"{n}.dcm"
        _write_copied(out, path, ds, raw)
        marks.append(time.perf_counter())
        write_sidecar(args.out, f"{n}.dcm", source=path, output=out, num_frames=1, boxes=(),
                      leaf_union=False, leaf_key="", signature="", phi=phi)  # fmt: skip
        marks.append(time.perf_counter())
        for step, start, end in zip(STEPS, marks[:-1], marks[1:], strict=True):
            totals[step] += end - start
        done += 1
    if not done:
        print("no file with pixel data on disk found")
        return 1
    shown = ", ".join(f"{step} {seconds / done * 1000:.2f}" for step, seconds in totals.items())
    print(f"{done} files, ms per file: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
