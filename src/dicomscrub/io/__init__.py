"""Reading, frame access and atomic writing of DICOM files."""
