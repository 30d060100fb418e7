#!/usr/bin/env bash
# Set up everything dicomscrub needs on a fresh Debian/Ubuntu machine with Python >= 3.11:
# the Tesseract binary (apt, when missing) and a virtual environment in .venv with the
# package and its development tools. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: $PYTHON is older than 3.11; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi

if ! command -v tesseract >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "bootstrap: installing tesseract-ocr with apt-get" >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tesseract-ocr >/dev/null
    else
        echo "bootstrap: tesseract is missing and apt-get is not available; install Tesseract" \
             "(https://tesseract-ocr.github.io) and run this again" >&2
        exit 2
    fi
fi

stamp="$VENV/.dicomscrub-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
echo "bootstrap: ready ($("$VENV/bin/dicomscrub" --version), $(tesseract --version 2>&1 | head -1))" >&2
