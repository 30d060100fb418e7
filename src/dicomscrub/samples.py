"""Synthetic DICOM samples with fake PHI in the header and burned into the pixels.

The factories build in-memory datasets for the test suite and the sample tree that
``dicomscrub demo`` runs on. Every name, number, date and address here is invented (phone
numbers use the fictional 555-01xx range). Each :class:`Sample` records the tight ink box of
every text line it drew, the ground truth that redaction is measured against.

Every generator takes the same trailing keyword arguments: ``study_uid`` and
``series_uid`` reuse those UIDs (to put samples in one study or series), ``seed`` seeds
the image noise, and ``uid_seed``, when given, derives every other UID from it so that
files are reproducible byte for byte.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from dicomscrub.models import BBox

FloatImage = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
Colour = tuple[float, ...]
_D = TypeVar("_D", bound=Dataset)

PRIVATE_CREATOR = "ACME_FAKE 1.0"
_MIN_ALPHA = 0.15  # fainter anti-aliasing is dropped, so every pixel in a box is visible ink
_WHITE, _YELLOW = (240.0, 240.0, 240.0), (250.0, 225.0, 0.0)
_GREEN, _CYAN = (40.0, 220.0, 40.0), (0.0, 210.0, 230.0)
_SURNAMES = ("DOE", "ROE", "POE", "MOE", "QUILL", "VANCE", "MARLOW", "PRESTON", "GARLAND", "TUCKER")
_GIVEN = ("JANE:F", "JOHN:M", "MARY:F", "PETER:M", "ALICE:F", "OSCAR:M", "NORA:F", "FELIX:M")
_INSTITUTIONS = (
    ("MERCY GENERAL HOSPITAL", "1200 Fake Avenue, Springfield, ZZ 00000"),
    ("ST. ELSEWHERE MEDICAL CENTER", "42 Nowhere Road, Shelbyville, ZZ 00001"),
    ("LAKESIDE COMMUNITY CLINIC", "7 Imaginary Lane, Ogdenville, ZZ 00002"),
)
_DOCTORS = ("ROE^ALAN^B", "HOUSE^GREGORY", "KILDARE^JAMES^R", "QUINN^MICHAELA", "WELBY^MARCUS")
_OPERATORS = ("POE^MARY", "TECH^TERRY", "SONO^SAM", "LUND^ERIKA")
# Manufacturer, ManufacturerModelName, StationName, DeviceSerialNumber by Modality
_DEVICES = MappingProxyType(
    {
        "US": ("ACME Medical Imaging", "SonoFake 3000", "USROOM2", "SF3K-000417"),
        "CT": ("ACME Medical Imaging", "Tomofake 64", "CTSCAN1", "TF64-001235"),
        "CR": ("Imaginary Radiography Ltd", "PlateReader CR-9", "CRREADER3", "PR9-55012"),
        "OT": ("Pretend Workstation Inc", "ScreenGrab 2", "WS-READ-04", "SG2-000009"),
    }
)


@dataclass(frozen=True, slots=True)
class FakePatient:
    """An invented patient and visit; every field looks like PHI but is fictional."""

    name: str = "DOE^JANE^Q"
    patient_id: str = "MRN48213977"
    birth_date: str = "19610702"
    sex: str = "F"
    study_date: str = "20240314"
    study_time: str = "102231"
    accession: str = "ACC7730412"
    institution: str = "MERCY GENERAL HOSPITAL"
    institution_address: str = "1200 Fake Avenue, Springfield, ZZ 00000"
    referring_physician: str = "ROE^ALAN^B"
    operator: str = "POE^MARY"
    phone: str = "+1 617 555 0142"

    @property
    def name_parts(self) -> tuple[str, ...]:
        """The non-empty components of :attr:`name` (``("DOE", "JANE", "Q")``)."""
        return tuple(part for part in self.name.split("^") if part)

    @property
    def display_name(self) -> str:
        """The name as a scanner overlay shows it: ``DOE, JANE Q``."""
        return _display_pn(self.name)


@dataclass(frozen=True, slots=True)
class Sample:
    """A synthetic dataset and where its burned-in text lies.

    ``phi_boxes[i]`` is the tight ink box of the drawn line ``phi_texts[i]``;
    ``clinical_boxes`` are the drawn annotations that are not PHI.
    """

    dataset: FileDataset
    patient: FakePatient
    phi_boxes: tuple[BBox, ...]
    clinical_boxes: tuple[BBox, ...]
    phi_texts: tuple[str, ...]


def fake_patients(n: int, seed: int = 0) -> list[FakePatient]:
    """Make ``n`` distinct invented patients.

    Parameters
    ----------
    n : int
        How many; at most 80 (the distinct surname/given-name pairs available).
    seed : int
        The same seed always gives the same patients.

    Returns
    -------
    list of FakePatient
        Patients with pairwise different names, IDs, accessions and dates.
    """
    combos = [(family, given) for family in _SURNAMES for given in _GIVEN]
    if not 0 <= n <= len(combos):
        raise ValueError(f"fake_patients makes 0 to {len(combos)} patients, not {n}")
    rng = random.Random(seed)
    rng.shuffle(combos)
    ids, accessions = rng.sample(range(10**7, 10**8), n), rng.sample(range(10**6, 10**7), n)
    births, studies = rng.sample(range(65 * 365), n), rng.sample(range(730), n)
    patients = []
    for i, (family, given_sex) in enumerate(combos[:n]):
        given, sex = given_sex.split(":")
        institution, address = rng.choice(_INSTITUTIONS)
        hh, mm, ss = rng.randrange(7, 19), rng.randrange(60), rng.randrange(60)
        patients.append(
            FakePatient(
                name=f"{family}^{given}^{chr(ord('A') + rng.randrange(26))}",
                patient_id=f"MRN{ids[i]}",
                birth_date=str(np.datetime64("1940-01-01") + births[i]).replace("-", ""),
                sex=sex,
                study_date=str(np.datetime64("2023-01-01") + studies[i]).replace("-", ""),
                study_time=f"{hh:02d}{mm:02d}{ss:02d}",
                accession=f"ACC{accessions[i]}",
                institution=institution,
                institution_address=address,
                referring_physician=rng.choice(_DOCTORS),
                operator=rng.choice(_OPERATORS),
                phone=f"+1 617 555 01{rng.randrange(100):02d}",
            )
        )
    return patients


def make_ultrasound(
    patient: FakePatient | None = None,
    *,
    frames: int = 1,
    rows: int = 480,
    cols: int = 640,
    probe: str = "C5-1",
    depth_cm: int = 16,
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
    uid_seed: str | None = None,
) -> Sample:
    """Make an RGB ultrasound: speckle fan, PHI banner on top, clinical labels at the sides.

    Parameters
    ----------
    patient : FakePatient, optional
        Whose PHI goes into the header and the pixels; :class:`FakePatient` () when None.
    frames : int
        1 gives US Image Storage, more a US Multi-frame cine at 30 frames/s whose burned-in
        text is identical on every frame while the speckle changes.
    rows, cols : int
        Image size in pixels.
    probe, depth_cm : str, int
        Transducer (also in TransducerData) and depth, drawn as clinical labels.
    study_uid, series_uid, seed, uid_seed
        See the module docstring.

    Returns
    -------
    Sample
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames}")
    patient = patient or FakePatient()
    rng = np.random.default_rng(seed)
    size = _font_size(rows / 30)
    banner = max(round(rows * 0.08), 2 * size + 8)
    pen = _Painter(rows, cols, size)
    when = f"{_display_date(patient.study_date)} {_display_time(patient.study_time)}"
    pen.text(patient.institution, (6, 1), _YELLOW, phi=True)
    pen.text(when, (cols - 6, 1), _WHITE, phi=True, anchor="ra")
    pen.text(patient.display_name, (6, size + 3), _WHITE, phi=True)
    pen.text(f"ID: {patient.patient_id}", (cols - 6, size + 3), _WHITE, phi=True, anchor="ra")
    for k, label in enumerate((probe, "MI 0.8 TIS 0.4", "FR 30Hz")):
        pen.text(label, (6, banner + size + k * (size + 8)), _GREEN, phi=False)
    pen.text(f"DEPTH {depth_cm}cm", (cols - 6, banner + size), _CYAN, phi=False, anchor="ra")
    pen.text("R", (6, round(rows * 0.6)), _GREEN, phi=False)
    pen.text("L", (cols - 6, round(rows * 0.6)), _GREEN, phi=False, anchor="ra")

    fan, depth, radius = _fan(rows, cols, top=banner + 8)
    background = np.full((rows, cols, 3), 6.0, dtype=np.float32)
    background[:banner] = 24.0
    stack = []
    for k in range(frames):
        frame = background.copy()
        frame[fan] = _speckle(rng, depth, k)[fan][:, None]
        pen.burn(frame)
        stack.append(frame)
    pixels = _quantize(np.stack(stack) if frames > 1 else stack[0], np.uint8, 0, 255)

    sop_class = UltrasoundMultiFrameImageStorage if frames > 1 else UltrasoundImageStorage
    ids = (study_uid, series_uid, uid_seed)
    ds = _header(patient, sop_class, "US", "US ABDOMEN", ids)
    ds.set_pixel_data(pixels, "RGB", 8, generate_instance_uid=False)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
    ds.BodyPartExamined = "ABDOMEN"
    ds.TransducerData = probe
    ys, xs = np.nonzero(fan)
    region = _put(Dataset(), RegionSpatialFormat=1, RegionDataType=1, RegionFlags=0)
    _put(region, RegionLocationMinX0=int(xs.min()), RegionLocationMinY0=int(ys.min()))
    _put(region, RegionLocationMaxX1=int(xs.max()), RegionLocationMaxY1=int(ys.max()))
    _put(region, PhysicalUnitsXDirection=3, PhysicalUnitsYDirection=3)  # cm
    _put(region, PhysicalDeltaX=depth_cm / radius, PhysicalDeltaY=depth_cm / radius)
    ds.SequenceOfUltrasoundRegions = [region]
    if frames > 1:
        ds.FrameTime = "33.3"
        ds.CineRate = 30
        ds.FrameIncrementPointer = 0x00181063  # (0018,1063) Frame Time
    return pen.sample(ds, patient)


def make_ct(
    patient: FakePatient | None = None,
    *,
    rows: int = 256,
    cols: int = 256,
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
    uid_seed: str | None = None,
) -> Sample:
    """Make a signed 16-bit CT slice of a round phantom with PHI in two corners.

    Name and ID go top-left, date and institution bottom-right, a window label top-right,
    all at +1500 HU so they show white in the stored window (centre 40, width 400).

    Parameters
    ----------
    patient, rows, cols, study_uid, series_uid, seed, uid_seed
        As for :func:`make_ultrasound`.

    Returns
    -------
    Sample
    """
    patient = patient or FakePatient()
    rng = np.random.default_rng(seed)
    yy, xx = _grid(rows, cols)
    r = min(rows, cols) * 0.28
    hu = -1000.0 + rng.normal(0.0, 4.0, (rows, cols)).astype(np.float32)
    body = _ellipse(yy, xx, rows / 2, cols / 2, r, r)
    hu[body] = 40.0 + rng.normal(0.0, 12.0, int(body.sum()))
    for side in (-1, 1):
        hu[_ellipse(yy, xx, rows * 0.47, cols / 2 + side * r * 0.45, r * 0.55, r * 0.3)] = -820
    hu[_ellipse(yy, xx, rows / 2 + r * 0.6, cols / 2, r * 0.15, r * 0.15)] = 700.0
    size, ink = _font_size(rows / 18), (1500.0,)
    pen = _Painter(rows, cols, size)
    pen.text(patient.name, (4, 2), ink, phi=True)
    pen.text(f"ID {patient.patient_id}", (4, size + 6), ink, phi=True)
    pen.text("W 400 L 40", (cols - 4, 2), ink, phi=False, anchor="ra")
    pen.text(
        _display_date(patient.study_date), (cols - 4, rows - size - 8), ink, phi=True, anchor="rd"
    )
    pen.text(patient.institution, (cols - 4, rows - 3), ink, phi=True, anchor="rd")
    pen.burn(hu)
    ids = (study_uid, series_uid, uid_seed)
    ds = _header(patient, CTImageStorage, "CT", "CT CHEST", ids)
    pixels = _quantize(hu + 1024.0, np.int16, -32768, 32767)
    ds.set_pixel_data(pixels, "MONOCHROME2", 16, generate_instance_uid=False)
    _put(ds, ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], KVP="120", SliceThickness="5")
    _put(ds, PixelSpacing=["0.7", "0.7"], ImagePositionPatient=["-89.6", "-89.6", "0"])
    _put(ds, ImageOrientationPatient=["1", "0", "0", "0", "1", "0"])
    _put(ds, RescaleIntercept="-1024", RescaleSlope="1", RescaleType="HU")
    _put(ds, WindowCenter="40", WindowWidth="400")
    return pen.sample(ds, patient)


def make_cr_mono1(
    patient: FakePatient | None = None,
    *,
    rows: int = 320,
    cols: int = 256,
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
    uid_seed: str | None = None,
) -> Sample:
    """Make a 12-bit MONOCHROME1 chest CR whose text displays white (low stored values).

    Name and ID go in the top margin, physician, date and institution in the bottom
    margin, a side marker "L" top-right.

    Parameters
    ----------
    patient, rows, cols, study_uid, series_uid, seed, uid_seed
        As for :func:`make_ultrasound`.

    Returns
    -------
    Sample
    """
    patient = patient or FakePatient()
    rng = np.random.default_rng(seed)
    yy, xx = _grid(rows, cols)
    img = 3800.0 + rng.normal(0.0, 20.0, (rows, cols)).astype(np.float32)
    trunk = _ellipse(yy, xx, rows / 2, cols / 2, rows * 0.28, cols * 0.4)
    img[trunk] = 2300.0 + rng.normal(0.0, 40.0, int(trunk.sum()))
    for cx in (cols * 0.33, cols * 0.67):
        img[_ellipse(yy, xx, rows * 0.47, cx, rows * 0.2, cols * 0.12)] = 3300.0
    img[(np.abs(xx - cols / 2) < cols * 0.03) & trunk] = 900.0
    size, ink = _font_size(rows / 22), (150.0,)
    step = size + 4
    pen = _Painter(rows, cols, size)
    pen.text(patient.display_name, (6, 4), ink, phi=True)
    pen.text(f"ID {patient.patient_id}", (6, 4 + step), ink, phi=True)
    pen.text("L", (cols - 8, 4), ink, phi=False, anchor="ra")
    bottom = (
        f"REF {_display_pn(patient.referring_physician)}",
        f"{_display_date(patient.study_date)} {_display_time(patient.study_time)}",
        patient.institution,
    )
    for k, line in enumerate(bottom):
        pen.text(line, (6, rows - 3 - (2 - k) * step), ink, phi=True, anchor="ld")
    pen.burn(img)
    ids = (study_uid, series_uid, uid_seed)
    ds = _header(patient, ComputedRadiographyImageStorage, "CR", "XR CHEST", ids)
    pixels = _quantize(img, np.uint16, 0, 4095)
    ds.set_pixel_data(pixels, "MONOCHROME1", 12, generate_instance_uid=False)
    _put(ds, BodyPartExamined="CHEST", ViewPosition="PA", ImagerPixelSpacing=["0.5", "0.5"])
    _put(ds, WindowCenter="2048", WindowWidth="4096")
    return pen.sample(ds, patient)


def make_secondary_capture(
    patient: FakePatient | None = None,
    *,
    rows: int = 256,
    cols: int = 320,
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
    uid_seed: str | None = None,
) -> Sample:
    """Make an 8-bit MONOCHROME2 secondary capture with four PHI lines in the bottom margin.

    Parameters
    ----------
    patient, rows, cols, study_uid, series_uid, seed, uid_seed
        As for :func:`make_ultrasound`.

    Returns
    -------
    Sample
    """
    patient = patient or FakePatient()
    rng = np.random.default_rng(seed)
    yy, xx = _grid(rows, cols)
    img = np.zeros((rows, cols), dtype=np.float32)
    inner = (yy > rows * 0.22) & (yy < rows * 0.76) & (xx > cols * 0.22) & (xx < cols * 0.78)
    img[inner] = 60.0 + 120.0 * xx[inner] / cols + rng.normal(0.0, 6.0, int(inner.sum()))
    img[_ellipse(yy, xx, rows / 2, cols / 2, rows * 0.12, cols * 0.1)] = 220.0
    size, ink = _font_size(rows / 18), (240.0,)
    y1, y2 = rows - 7 - size, rows - 3
    pen = _Painter(rows, cols, size)
    pen.text("PAGE 1/1", (6, 4), (200.0,), phi=False)
    pen.text(patient.display_name, (6, y1), ink, phi=True, anchor="ld")
    pen.text(patient.patient_id, (cols - 6, y1), ink, phi=True, anchor="rd")
    pen.text(f"DOB {_display_date(patient.birth_date)}", (6, y2), ink, phi=True, anchor="ld")
    pen.text(_display_date(patient.study_date), (cols - 6, y2), ink, phi=True, anchor="rd")
    pen.burn(img)
    ids = (study_uid, series_uid, uid_seed)
    ds = _header(patient, SecondaryCaptureImageStorage, "OT", "CAPTURE", ids)
    pixels = _quantize(img, np.uint8, 0, 255)
    ds.set_pixel_data(pixels, "MONOCHROME2", 8, generate_instance_uid=False)
    ds.ConversionType = "WSD"
    return pen.sample(ds, patient)


def make_palette(
    patient: FakePatient | None = None,
    *,
    rows: int = 256,
    cols: int = 256,
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
    uid_seed: str | None = None,
) -> Sample:
    """Make an 8-bit PALETTE COLOR secondary capture (16-bit "hot" LUTs) with margin text.

    Text uses index 255, which the palette maps to white.

    Parameters
    ----------
    patient, rows, cols, study_uid, series_uid, seed, uid_seed
        As for :func:`make_ultrasound`.

    Returns
    -------
    Sample
    """
    patient = patient or FakePatient()
    rng = np.random.default_rng(seed)
    yy, xx = _grid(rows, cols)
    blob = np.exp(-(((yy / rows - 0.5) / 0.14) ** 2) - ((xx / cols - 0.5) / 0.16) ** 2)
    img = np.clip(30.0 + 200.0 * blob + rng.normal(0.0, 8.0, (rows, cols)), 0.0, 240.0)
    img[(np.abs(yy / rows - 0.5) >= 0.3) | (np.abs(xx / cols - 0.5) >= 0.3)] = 0.0
    size, ink = _font_size(rows / 18), (255.0,)
    pen = _Painter(rows, cols, size)
    pen.text(patient.display_name, (6, 4), ink, phi=True)
    pen.text(_display_date(patient.study_date), (cols - 6, 4), ink, phi=True, anchor="ra")
    pen.text(patient.patient_id, (6, rows - 4), ink, phi=True, anchor="ld")
    pen.text("SUV 0-8", (cols - 6, rows - 4), ink, phi=False, anchor="rd")
    canvas = img.astype(np.float32)
    pen.burn(canvas)
    ids = (study_uid, series_uid, uid_seed)
    ds = _header(patient, SecondaryCaptureImageStorage, "OT", "PET FUSION", ids)
    pixels = _quantize(canvas, np.uint8, 0, 255)
    ds.set_pixel_data(pixels, "PALETTE COLOR", 8, generate_instance_uid=False)
    ds.ConversionType = "WSD"
    ramp = np.arange(256, dtype=np.float64) * 3.0
    for colour, offset in (("Red", 0.0), ("Green", 255.0), ("Blue", 510.0)):
        lut = (np.clip(ramp - offset, 0.0, 255.0) * 257.0).astype("<u2")
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", lut.tobytes())
    return pen.sample(ds, patient)


def write_sample_set(out_dir: Path, seed: int = 0) -> list[Path]:
    """Write the demo tree of synthetic DICOM files under ``out_dir``.

    The tree: ``site_a/us_probe1/`` (single-frame ultrasounds of two patients from one
    device, and a 12-frame cine in the first one's study), ``site_a/ct/`` (a CT),
    ``site_b/cr/`` (a MONOCHROME1 CR), ``site_b/sc/`` (a secondary capture and a palette
    image) and ``site_b/notes.txt``, a file that is not DICOM.

    Parameters
    ----------
    out_dir : Path
        Folder to write into; created when missing, existing files are overwritten.
    seed : int
        The same seed writes byte-identical files (patients, noise and UIDs).

    Returns
    -------
    list of Path
        The DICOM files written, in the order above (``notes.txt`` is not listed).
    """
    people = fake_patients(5, seed)
    tag = f"dicomscrub-samples-{seed}"
    us1 = make_ultrasound(people[0], seed=seed, uid_seed=f"{tag}-us1")
    study = str(us1.dataset.StudyInstanceUID)
    samples = {
        "site_a/us_probe1/us_0001.dcm": us1,
        "site_a/us_probe1/us_0002.dcm": make_ultrasound(
            people[1], seed=seed + 1, uid_seed=f"{tag}-us2"
        ),
        "site_a/us_probe1/us_cine_0001.dcm": make_ultrasound(
            people[0], frames=12, study_uid=study, seed=seed + 2, uid_seed=f"{tag}-cine"
        ),
        "site_a/ct/ct_0001.dcm": make_ct(people[2], seed=seed + 3, uid_seed=f"{tag}-ct"),
        "site_b/cr/cr_0001.dcm": make_cr_mono1(people[3], seed=seed + 4, uid_seed=f"{tag}-cr"),
        "site_b/sc/sc_0001.dcm": make_secondary_capture(
            people[4], seed=seed + 5, uid_seed=f"{tag}-sc"
        ),
        "site_b/sc/palette_0001.dcm": make_palette(
            people[4], seed=seed + 6, uid_seed=f"{tag}-palette"
        ),
    }
    paths = []
    for relpath, sample in samples.items():
        path = Path(out_dir) / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        dcmwrite(path, sample.dataset, enforce_file_format=True)
        paths.append(path)
    notes = "Synthetic demo data. This file is not DICOM and is expected to be skipped.\n"
    (Path(out_dir) / "site_b" / "notes.txt").write_text(notes, encoding="utf-8")
    return paths


@dataclass(frozen=True, slots=True, eq=False)
class _Stamp:
    text: str
    box: BBox
    alpha: FloatImage  # box-sized coverage in 0..1
    colour: Colour
    phi: bool


class _Painter:
    """Renders text lines for one image once, then blends them into any number of frames."""

    __slots__ = ("cols", "font", "rows", "stamps")

    def __init__(self, rows: int, cols: int, size: int) -> None:
        self.rows, self.cols = rows, cols
        self.font = ImageFont.load_default(size=size)
        self.stamps: list[_Stamp] = []

    def text(
        self, text: str, xy: tuple[int, int], colour: Colour, *, phi: bool, anchor: str = "la"
    ) -> None:
        mask = Image.new("L", (self.cols, self.rows), 0)
        ImageDraw.Draw(mask).text(xy, text, fill=255, font=self.font, anchor=anchor)
        alpha = np.asarray(mask, dtype=np.float32) / 255.0
        alpha[alpha < _MIN_ALPHA] = 0.0
        ys, xs = np.nonzero(alpha)
        if ys.size == 0:
            raise ValueError(f"text line {len(self.stamps)} falls outside the image")
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        crop = alpha[y0:y1, x0:x1].copy()
        self.stamps.append(_Stamp(text, BBox(x0, y0, x1 - x0, y1 - y0), crop, colour, phi))

    def burn(self, canvas: FloatImage) -> None:
        """Alpha-blend every line into ``canvas`` (rows x cols [x 3]) in place."""
        for stamp in self.stamps:
            b = stamp.box
            region = canvas[b.y : b.bottom, b.x : b.right]
            alpha = stamp.alpha[..., None] if canvas.ndim == 3 else stamp.alpha
            region *= 1.0 - alpha
            region += alpha * np.asarray(stamp.colour, dtype=np.float32)

    def sample(self, ds: FileDataset, patient: FakePatient) -> Sample:
        phi = [s for s in self.stamps if s.phi]
        clinical = tuple(s.box for s in self.stamps if not s.phi)
        return Sample(ds, patient, tuple(s.box for s in phi), clinical, tuple(s.text for s in phi))


def _header(
    patient: FakePatient,
    sop_class: str,
    modality: str,
    description: str,
    ids: tuple[str | None, str | None, str | None],
) -> FileDataset:
    """A dataset with file meta, the patient's PHI, nested sequences and a private block."""
    study_uid, series_uid, uid_seed = ids

    def uid(part: str) -> UID:
        return generate_uid(entropy_srcs=[uid_seed, part]) if uid_seed else generate_uid()

    study, instance = UID(study_uid) if study_uid else uid("study"), uid("instance")
    meta = _put(FileMetaDataset(), FileMetaInformationVersion=b"\x00\x01")
    _put(meta, MediaStorageSOPClassUID=UID(sop_class), MediaStorageSOPInstanceUID=instance)
    _put(meta, TransferSyntaxUID=ExplicitVRLittleEndian)
    _put(meta, ImplementationClassUID=PYDICOM_IMPLEMENTATION_UID)
    _put(meta, ImplementationVersionName="DICOMSCRUB_SMPL")
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    _put(ds, SpecificCharacterSet="ISO_IR 100", SOPClassUID=UID(sop_class))
    _put(ds, SOPInstanceUID=instance, StudyInstanceUID=study, Modality=modality)
    _put(ds, SeriesInstanceUID=UID(series_uid) if series_uid else uid("series"))
    _put(ds, FrameOfReferenceUID=uid("frame-of-reference"), SeriesNumber=1, InstanceNumber=1)
    _put(ds, PatientName=patient.name, PatientID=patient.patient_id, PatientSex=patient.sex)
    age = int(patient.study_date[:4]) - int(patient.birth_date[:4])
    _put(ds, PatientBirthDate=patient.birth_date, PatientAge=f"{age:03d}Y")
    _put(ds, PatientTelephoneNumbers=patient.phone, AccessionNumber=patient.accession)
    for level in ("Study", "Series", "Acquisition", "Content"):
        setattr(ds, f"{level}Date", patient.study_date)
        setattr(ds, f"{level}Time", patient.study_time)
    _put(ds, StudyID=patient.accession[-8:], StudyDescription=f"{description} {patient.name}")
    _put(ds, InstitutionName=patient.institution, InstitutionAddress=patient.institution_address)
    _put(ds, ReferringPhysicianName=patient.referring_physician, OperatorsName=patient.operator)
    _put(ds, PerformingPhysicianName=patient.operator)
    manufacturer, model, station, serial = _DEVICES[modality]
    _put(ds, Manufacturer=manufacturer, ManufacturerModelName=model)
    _put(ds, StationName=station, DeviceSerialNumber=serial)
    # Detached Study Management SOP class; the nested item puts PHI (a UID) at depth 2.
    referenced = _put(Dataset(), ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1")
    _put(referenced, ReferencedSOPInstanceUID=study)
    request = _put(Dataset(), RequestedProcedureID=patient.accession)
    _put(request, ScheduledProcedureStepID=f"SPS{patient.patient_id[-6:]}")
    _put(request, ReferencedStudySequence=[referenced])
    other = _put(Dataset(), PatientID=f"EXT{patient.patient_id[::-1]}", TypeOfPatientID="TEXT")
    _put(other, IssuerOfPatientID="FAKE REGIONAL REGISTRY")
    _put(ds, RequestAttributesSequence=[request], OtherPatientIDsSequence=[other])
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", patient.name)
    block.add_new(0x02, "SQ", [_put(Dataset(), PatientID=patient.patient_id)])
    return ds


def _put(ds: _D, **elements: object) -> _D:
    """Set elements of ``ds`` by DICOM keyword and return it."""
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _fan(rows: int, cols: int, top: int) -> tuple[Mask, FloatImage, float]:
    """The sector (inside the central 60% of the width), depth in 0..1 and radius in px."""
    yy, xx = _grid(rows, cols)
    half_angle = np.radians(35.0)
    radius = float(min(rows - top - 8, 0.3 * cols / np.sin(half_angle)))
    dy, dx = yy - top, xx - cols / 2
    r = np.hypot(dx, dy)
    fan = (r >= 0.08 * radius) & (r <= radius) & (np.abs(np.arctan2(dx, dy)) <= half_angle)
    fan &= (dy > 0) & (xx >= 0.2 * cols) & (xx < 0.8 * cols)
    return fan, (r / radius).astype(np.float32), radius


def _speckle(rng: np.random.Generator, depth: FloatImage, frame: int) -> FloatImage:
    """Rayleigh speckle with depth fall-off and a dark cyst that drifts between frames."""
    rows, cols = depth.shape
    grain = rng.rayleigh(0.45, (rows // 2 + 1, cols // 2 + 1)).repeat(2, 0).repeat(2, 1)
    tissue = 170.0 * grain[:rows, :cols] * (1.0 - 0.55 * depth)
    yy, xx = _grid(rows, cols)
    tissue[_ellipse(yy, xx, rows * 0.55, cols * 0.45 + frame, rows * 0.07, cols * 0.05)] *= 0.12
    return np.clip(tissue, 0.0, 255.0).astype(np.float32)


def _grid(rows: int, cols: int) -> tuple[FloatImage, FloatImage]:
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    return yy, xx


def _ellipse(yy: FloatImage, xx: FloatImage, cy: float, cx: float, ry: float, rx: float) -> Mask:
    inside: Mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return inside


def _quantize(
    image: FloatImage, dtype: type[np.generic], lo: int, hi: int
) -> npt.NDArray[np.generic]:
    """Round, clip to ``lo..hi`` and cast to the stored integer type."""
    out: npt.NDArray[np.generic] = np.clip(np.rint(image), lo, hi).astype(dtype)
    return out


def _font_size(preferred: float) -> int:
    return int(min(22, max(14, round(preferred))))


def _display_pn(pn: str) -> str:
    family, _, rest = pn.partition("^")
    given = " ".join(part for part in rest.split("^") if part)
    return f"{family}, {given}" if given else family


def _display_date(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"


def _display_time(tm: str) -> str:
    return f"{tm[:2]}:{tm[2:4]}:{tm[4:6]}"
