#!/usr/bin/env python3
"""The original command line, kept working: the same as ``dicomscrub run``.

    python redact_dicom_image_phi.py --input IN --output OUT --headers HDRS [flags]
"""

import sys
from pathlib import Path

try:
    from dicomscrub.cli import original_main
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    from dicomscrub.cli import original_main

if __name__ == "__main__":
    raise SystemExit(original_main())
