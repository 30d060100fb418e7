"""The exception hierarchy: every error the tool raises on purpose derives from one base.

Messages name the file, tag or setting and the fix; they never carry a PHI value.
"""


class DicomScrubError(Exception):
    """Base of every error raised on purpose by dicomscrub."""


class ConfigError(DicomScrubError):
    """A setting, flag or profile file is invalid."""


class InputError(DicomScrubError):
    """An input file cannot be read or is not a usable DICOM object."""


class EngineUnavailableError(DicomScrubError):
    """A requested OCR engine (or its binary), or the PHI analyzer's package or model,
    is not installed."""


class RedactionError(DicomScrubError):
    """Pixel data could not be decoded, redacted or re-encoded safely."""


class HeaderError(DicomScrubError):
    """The header could not be fully de-identified."""


class OutputError(DicomScrubError):
    """An output file, sidecar or report could not be written."""
