"""dicomscrub: de-identify DICOM headers and burned-in pixel text, with proof."""

__version__ = "0.1.0"

__all__ = ["__version__"]
