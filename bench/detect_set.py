"""The generated set of the detection benchmark: DICOM files with burned-in text and truth.

Its own generator, seeded, independent of the test factories (``tests/factories.py``)
and of ``dicomscrub.samples``: other names, ID and date formats, fonts, sizes, colours and
layouts, so the detector is never tuned on what it is measured with.

Each file gets PHI lines (patient name, ID, birth date, accession, institution, operator,
study date, referring physician) whose values are the file's own header values, and
clinical lines (probe, MI/TIS, depth, gain, frame rate, markers, window). Lines are drawn
with fonts of 9 to 28 px in white, gray, green, yellow, cyan or red, or dark on a light
plate; most sit in the margins, some in the middle of the image, some turned by 90
degrees. For every line the truth keeps its ink mask (the pixels where the glyphs cover at
least half a pixel), the ink of its PHI value alone (without a label such as ``DOB:``),
the frames it is on, and its categories.

The truth of a set is ``truth.json`` (one entry per file and line) and, per file,
``<relpath>.npz`` with the masks, both written beside the ``input/`` folder.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

SET_FORMAT = 1  # bump when the generated set changes, so cached sets are rebuilt

# Kinds in the order they repeat; any 12 consecutive files hold every kind.
KINDS = (
    "us_rgb",
    "ct",
    "us_jpeg",
    "cr_mono1",
    "sc_rgb",
    "dx_mono2",
    "cine_static",
    "palette",
    "us_rgb",
    "dx_rle",
    "cine_counter",
    "sc_rgb",
)
FONT_SIZES = (9, 10, 11, 12, 13, 14, 16, 18, 20, 22, 24, 28)
SMALL_FONT_PX = 11  # lines at or below this size count as "small font"
INK_ALPHA = 0.5  # a pixel is ink when the glyphs cover at least half of it
_MIN_ALPHA = 0.12  # fainter anti-aliasing is not drawn at all
_FONT_FILES = {
    "dejavu-sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "dejavu-sans-bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "dejavu-mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "dejavu-serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
}
_RGB = {
    "white": (235.0, 235.0, 235.0),
    "gray": (150.0, 150.0, 150.0),
    "green": (60.0, 215.0, 60.0),
    "yellow": (245.0, 220.0, 20.0),
    "cyan": (20.0, 205.0, 225.0),
    "red": (225.0, 40.0, 40.0),
    "black": (20.0, 20.0, 20.0),  # only on light secondary captures
}
_LIGHT_COLOURS = ("black", "black", "red", "gray")
_DARK_COLOURS = ("white", "gray", "green", "yellow", "cyan", "red")
_DARK_RGB, _PLATE_RGB = (15.0, 15.0, 15.0), (225.0, 225.0, 215.0)

_FAMILY = (
    "ASHWORTH", "BELLAMY", "CARVER", "DUNMORE", "ELLISON", "FAIRBANK", "GODWIN", "HARTLEY",
    "IRVING", "JESSOP", "KENDRICK", "LOCKWOOD", "MERRITT", "NORCROSS", "OAKLEY", "PEMBERTON",
    "RADCLIFFE", "SELWYN", "THORNE", "UPTON", "WAVERLY", "YARDLEY", "O'HARA", "VAN DYKE",
)  # fmt: skip
_GIVEN = (
    "AMELIA", "BRUNO", "CLARA", "DESMOND", "EDITH", "FLYNN", "GRETA", "HUGO", "IVY", "JASPER",
    "KAREN", "LEON", "MAGDA", "NIKO", "OLIVE", "PATRICK", "ROSA", "SILAS", "TESSA", "WALTER",
)  # fmt: skip
_HOSPITALS = (
    "NORTHGATE GENERAL HOSPITAL", "Riverbend Medical Center", "ST. AGATHA CLINIC",
    "HILLCREST IMAGING", "Lakeview Women's Hospital", "EASTFIELD CHILDRENS HOSP",
)  # fmt: skip
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True, slots=True)
class Person:
    """An invented patient and visit (every value looks like PHI and is fictional)."""

    family: str
    given: str
    middle: str
    patient_id: str
    birth_date: str  # YYYYMMDD
    study_date: str
    study_time: str
    accession: str
    institution: str
    operator: tuple[str, str]  # family, given
    referring: tuple[str, str]

    @property
    def pn(self) -> str:
        return f"{self.family}^{self.given}^{self.middle}"


@dataclass(slots=True)
class LineTruth:
    """One drawn text line: where, which frames, what kind, and its categories."""

    line: int
    kind: str  # name, patient_id, birth_date, ..., probe, mi_tis, marker, ...
    phi: bool
    box: tuple[int, int, int, int]  # x, y, width, height of the drawn alpha
    frames: list[int] | None  # None: every frame
    font: str
    size_px: int
    colour: str  # white ... red, or "dark-on-light"
    rotated: bool
    middle: bool
    plate: tuple[int, int, int, int] | None = None
    ink_px: int = 0
    value_px: int = 0


@dataclass(slots=True)
class FileTruth:
    """The truth of one generated file."""

    relpath: str
    kind: str
    modality: str
    photometric: str
    transfer_syntax: str
    rows: int
    cols: int
    frames: int
    lines: list[LineTruth] = field(default_factory=list)


@dataclass(slots=True)
class _Line:
    segments: list[tuple[str, bool]]  # (text, is the PHI value)
    kind: str
    phi: bool
    zone: str = "margin"  # margin, middle
    rotated: bool = False
    frames: list[int] | None = None


@dataclass(slots=True)
class _Placed:
    truth: LineTruth
    alpha: np.ndarray  # box-sized coverage 0..1
    value: np.ndarray | None  # box-sized bool, the PHI value's ink
    ink_value: tuple[float, ...]
    plate_value: tuple[float, ...] | None


# ------------------------------------------------------------------------------ people


def make_person(rng: random.Random) -> Person:
    """An invented person with varied ID and accession formats."""
    birth = np.datetime64("1930-01-01") + rng.randrange(88 * 365)
    study = np.datetime64("2021-01-01") + rng.randrange(4 * 365)
    id_style = rng.randrange(3)
    if id_style == 0:
        patient_id = f"{rng.randrange(10**9):09d}"
    elif id_style == 1:
        patient_id = f"PT{rng.randrange(10**6):06d}"
    else:
        patient_id = f"{rng.choice('ABCDEFGHKLMNPRSTVWXZ')}{rng.randrange(10**7):07d}"
    accession = rng.choice(("A", "RAD", "")) + f"{rng.randrange(10**7, 10**8)}"
    return Person(
        family=rng.choice(_FAMILY),
        given=rng.choice(_GIVEN),
        middle=rng.choice("ABCDEFGHJKLMNPRSTW"),
        patient_id=patient_id,
        birth_date=str(birth).replace("-", ""),
        study_date=str(study).replace("-", ""),
        study_time=f"{rng.randrange(7, 20):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}",
        accession=accession,
        institution=rng.choice(_HOSPITALS),
        operator=(rng.choice(_FAMILY), rng.choice(_GIVEN)),
        referring=(rng.choice(_FAMILY), rng.choice(_GIVEN)),
    )


def _date_text(da: str, rng: random.Random) -> str:
    y, m, d = da[:4], da[4:6], da[6:8]
    month = _MONTHS[int(m) - 1]
    return rng.choice(
        (
            f"{y}-{m}-{d}",
            f"{m}/{d}/{y}",
            f"{d}.{m}.{y}",
            f"{d}-{month}-{y}",
            f"{da}",
            f"{d} {month.title()} {y}",
            f"{y}/{m}/{d}",
        )
    )


def _name_text(p: Person, rng: random.Random) -> str:
    return rng.choice(
        (
            f"{p.family}, {p.given} {p.middle}",
            f"{p.family}^{p.given}^{p.middle}",
            f"{p.given.title()} {p.family.title()}",
            f"{p.family} {p.given}",
            f"{p.family}, {p.given}",
        )
    )


def phi_lines(p: Person, rng: random.Random) -> list[_Line]:
    """PHI lines whose values are the header's values, in several spellings."""
    lines = [
        _Line([(rng.choice(("", "Name: ", "PATIENT: ", "Pt ")), False), (_name_text(p, rng), True)],
              "name", True),
        _Line([(rng.choice(("ID: ", "MRN ", "PID: ", "")), False), (p.patient_id, True)],
              "patient_id", True),
    ]  # fmt: skip
    if rng.random() < 0.75:
        label = rng.choice(("DOB: ", "DOB ", "Birth: ", "b. "))
        lines.append(
            _Line([(label, False), (_date_text(p.birth_date, rng), True)], "birth_date", True)
        )
    if rng.random() < 0.55:
        label = rng.choice(("Acc: ", "ACC# ", "Accession ", ""))
        lines.append(_Line([(label, False), (p.accession, True)], "accession", True))
    if rng.random() < 0.6:
        lines.append(_Line([(p.institution, True)], "institution", True))
    if rng.random() < 0.45:
        fam, giv = p.operator
        who = rng.choice((f"{fam}, {giv}", f"{giv.title()} {fam.title()}", fam))
        label = rng.choice(("Op: ", "Sonographer: ", "Tech ", "OPR "))
        lines.append(_Line([(label, False), (who, True)], "operator", True))
    if rng.random() < 0.7:
        tm = f"{p.study_time[:2]}:{p.study_time[2:4]}:{p.study_time[4:]}"
        date = _date_text(p.study_date, rng)
        segs = [(date, True), (f" {tm}", False)] if rng.random() < 0.6 else [(date, True)]
        lines.append(_Line(segs, "study_date", True))
    if rng.random() < 0.2:
        fam, giv = p.referring
        lines.append(_Line([("Ref: ", False), (f"Dr {fam.title()}", True)], "referring", True))
    return lines


_CLINICAL = {
    "us": (
        ("probe", ("C5-1", "L12-5", "C1-6", "S4-2", "P4-2c", "9L-D", "IC5-9")),
        ("mi_tis", ("MI 0.8", "TIS 0.4", "MI 1.1 TIS 0.3", "TIB 0.2", "MI=0.6 TIS=1.0")),
        ("depth", ("DEPTH 16cm", "12 cm", "D 8.5cm", "Depth: 14.0 cm")),
        ("gain", ("GAIN 52%", "Gn 60", "G 48dB", "Gain 0dB")),
        ("frame_rate", ("FR 30Hz", "28Hz", "FR 22", "41 fps")),
        ("mode", ("2D", "THI", "CFM", "PW 2.5MHz", "Gen", "HPen")),
        ("marker", ("L", "R", "LT", "RT", "SAG", "TRV")),
        ("body", ("LIVER", "RT KIDNEY", "THYROID LT", "GB", "AORTA PROX")),
    ),
    "xr": (
        ("marker", ("L", "R", "PA", "AP", "LAT")),
        ("technique", ("kVp 110", "mAs 2.5", "EI 1450", "DAP 0.12")),
        ("view", ("CHEST PA", "AP ERECT", "PORTABLE", "KNEE LAT")),
        ("window", ("W 4096 L 2048", "WL 1800/3600")),
    ),
    "ct": (
        ("window", ("W 400 L 40", "WW 1500 WL -600", "W:350 L:50")),
        ("technique", ("kV 120", "mA 250", "SL 5.0mm", "2.5 mm")),
        ("position", ("Z -145.5", "IM 42", "SE 3", "TILT 0.0")),
        ("marker", ("R", "L", "A", "P")),
    ),
    "sc": (
        ("caption", ("PAGE 1/2", "FIG. 3", "REPORT", "SCREEN CAPTURE")),
        ("measure", ("Dist 2.34 cm", "Area 4.1 cm2", "EF 55%", "Vol 12 ml")),
        ("marker", ("L", "R", "1", "2")),
    ),
}


def clinical_lines(family: str, rng: random.Random, count: int) -> list[_Line]:
    """``count`` clinical annotations of the modality family, of distinct kinds."""
    options = list(_CLINICAL[family])
    rng.shuffle(options)
    return [_Line([(rng.choice(texts), False)], kind, False) for kind, texts in options[:count]]


# ------------------------------------------------------------------------------ drawing


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    path = _FONT_FILES.get(name)
    if path and Path(path).exists():
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def available_fonts() -> list[str]:
    """Font names this machine can draw: the DejaVu files found, and Pillow's own."""
    return [name for name, path in _FONT_FILES.items() if Path(path).exists()] + ["pillow"]


def _render(line: _Line, font_name: str, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Coverage (0..1) of the line's glyphs, cropped, and its PHI value's ink mask."""
    font = _font(font_name, size)
    text = "".join(t for t, _ in line.segments)
    width = int(font.getlength(text)) + 2 * size
    ascent, descent = font.getmetrics()
    image = Image.new("L", (width, ascent + descent + size), 0)
    draw = ImageDraw.Draw(image)
    value_cols = np.zeros(width, dtype=bool)
    x = float(size)
    for seg, is_value in line.segments:
        draw.text((x, size / 2), seg, fill=255, font=font)
        end = x + font.getlength(seg)
        if is_value:
            value_cols[int(x) : int(np.ceil(end)) + 1] = True
        x = end
    alpha = np.asarray(image, dtype=np.float32) / 255.0
    alpha[alpha < _MIN_ALPHA] = 0.0
    ys, xs = np.nonzero(alpha)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = alpha[y0:y1, x0:x1]
    value = None
    if line.phi:
        value = (alpha >= INK_ALPHA) & value_cols[None, x0:x1]
    return alpha, value


class _Layout:
    """Places boxes without overlap in the margins or the middle of one image."""

    def __init__(self, rows: int, cols: int, rng: random.Random) -> None:
        self.rows, self.cols, self.rng = rows, cols, rng
        self.taken: list[tuple[int, int, int, int]] = []

    def _free(self, x: int, y: int, w: int, h: int, gap: int = 5) -> bool:
        for tx, ty, tw, th in self.taken:
            if x < tx + tw + gap and tx < x + w + gap and y < ty + th + gap and ty < y + h + gap:
                return False
        return True

    def place(self, w: int, h: int, zone: str, rotated: bool) -> tuple[int, int] | None:
        rows, cols, rng = self.rows, self.cols, self.rng
        if w + 8 > cols or h + 8 > rows:
            return None
        band_y, band_x = int(rows * 0.18), int(cols * 0.18)
        for _ in range(200):
            if zone == "middle":
                x = rng.randrange(int(cols * 0.3), max(int(cols * 0.3) + 1, int(cols * 0.7) - w))
                y = rng.randrange(int(rows * 0.3), max(int(rows * 0.3) + 1, int(rows * 0.7) - h))
            elif rotated:  # a vertical line along the left or right edge
                x = rng.choice((rng.randrange(3, 12), cols - w - rng.randrange(3, 12)))
                y = rng.randrange(int(rows * 0.2), max(int(rows * 0.2) + 1, rows - h - 4))
            else:
                side = rng.choice(("top", "top", "bottom", "left", "right"))
                if side in ("top", "bottom") or w > band_x:
                    x = rng.randrange(3, cols - w - 3)
                    y0 = rng.randrange(2, max(3, band_y - h))
                    y = y0 if side == "top" or side == "left" else rows - h - y0
                else:
                    y = rng.randrange(band_y, max(band_y + 1, rows - band_y - h))
                    x0 = rng.randrange(3, max(4, band_x - w))
                    x = x0 if side == "left" else cols - w - x0
            if x >= 0 and y >= 0 and x + w <= cols and y + h <= rows and self._free(x, y, w, h):
                self.taken.append((x, y, w, h))
                return x, y
        return None


def _colour_value(
    family: str, colour: str, modality_ink: dict[str, tuple[float, ...]]
) -> tuple[float, ...]:
    if family == "rgb":
        return _RGB[colour]
    return modality_ink[colour]


def lay_out(
    lines: list[_Line],
    rows: int,
    cols: int,
    rng: random.Random,
    *,
    colours: tuple[str, ...],
    ink: dict[str, tuple[float, ...]],
    family: str,
    fonts: list[str],
    layout: _Layout,
    size_scale: float = 1.0,
) -> list[_Placed]:
    """Give every line a font, size, colour and free place; lines that do not fit shrink.

    A line in the middle of a gray image is never gray: it would not show on the anatomy.
    """
    placed: list[_Placed] = []
    for idx, line in enumerate(lines):
        size = rng.choice(FONT_SIZES)
        size = max(9, min(28, round(size * size_scale)))
        font_name = rng.choice(fonts)
        dark_on_light = rng.random() < 0.12
        choices = colours
        if line.zone == "middle" and family != "rgb":
            choices = tuple(c for c in colours if c != "gray") or colours
        colour = "dark-on-light" if dark_on_light else rng.choice(choices)
        turn = rng.choice((1, 3))
        spot = None
        while spot is None:
            alpha, value = _render(line, font_name, size)
            if line.rotated:
                alpha = np.rot90(alpha, turn)
                value = None if value is None else np.rot90(value, turn)
            pad = 4 if dark_on_light else 0
            h, w = alpha.shape
            spot = layout.place(w + 2 * pad, h + 2 * pad, line.zone, line.rotated)
            if spot is None:
                if size <= 9:
                    break
                size = max(9, size - 3)
        if spot is None:
            continue
        x, y = spot[0] + pad, spot[1] + pad
        ink_mask = alpha >= INK_ALPHA
        if dark_on_light:
            ink_value = ink["dark"] if family != "rgb" else _DARK_RGB
            plate_value: tuple[float, ...] | None = ink["plate"] if family != "rgb" else _PLATE_RGB
            plate = (x - pad, y - pad, w + 2 * pad, h + 2 * pad)
        else:
            ink_value, plate_value, plate = _colour_value(family, colour, ink), None, None
        truth = LineTruth(
            line=idx,
            kind=line.kind,
            phi=line.phi,
            box=(x, y, w, h),
            frames=line.frames,
            font=font_name,
            size_px=size,
            colour=colour,
            rotated=line.rotated,
            middle=line.zone == "middle",
            plate=plate,
            ink_px=int(ink_mask.sum()),
            value_px=int(value.sum()) if value is not None else 0,
        )
        placed.append(_Placed(truth, alpha, value, ink_value, plate_value))
    return placed


def burn(canvas: np.ndarray, placed: list[_Placed], frame: int) -> None:
    """Draw the lines that are on ``frame`` into ``canvas`` (rows x cols x channels)."""
    for p in placed:
        t = p.truth
        if t.frames is not None and frame not in t.frames:
            continue
        if t.plate is not None and p.plate_value is not None:
            px, py, pw, ph = t.plate
            canvas[py : py + ph, px : px + pw] = np.asarray(p.plate_value, dtype=np.float32)
        x, y, w, h = t.box
        region = canvas[y : y + h, x : x + w]
        a = p.alpha[..., None]
        region *= 1.0 - a
        region += a * np.asarray(p.ink_value, dtype=np.float32)


# --------------------------------------------------------------------------- backgrounds


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    return yy, xx


def _us_frame(rows: int, cols: int, nprng: np.random.Generator, k: int) -> np.ndarray:
    """A speckled sector in the middle of a black frame, as RGB floats."""
    yy, xx = _grid(rows, cols)
    top = rows * 0.12
    radius = rows * 0.8
    dy, dx = yy - top, xx - cols / 2
    r = np.hypot(dx, dy)
    fan = (r > radius * 0.06) & (r < radius) & (np.abs(np.arctan2(dx, dy)) < np.radians(36))
    fan &= dy > 0
    grain = nprng.rayleigh(0.45, (rows // 2 + 1, cols // 2 + 1)).repeat(2, 0).repeat(2, 1)
    tissue = 190.0 * grain[:rows, :cols] * (1.0 - 0.6 * r / radius)
    cyst = ((yy - rows * 0.55) / (rows * 0.07)) ** 2 + (
        (xx - cols * 0.45 - 2 * k) / (cols * 0.05)
    ) ** 2
    tissue[cyst < 1.0] *= 0.15
    frame = np.full((rows, cols), 4.0, dtype=np.float32)
    frame[fan] = np.clip(tissue[fan], 0.0, 255.0)
    return np.repeat(frame[..., None], 3, axis=2)


def _ct_hu(rows: int, cols: int, nprng: np.random.Generator) -> np.ndarray:
    yy, xx = _grid(rows, cols)
    hu = -1000.0 + nprng.normal(0.0, 5.0, (rows, cols))
    body = ((yy - rows / 2) / (rows * 0.3)) ** 2 + ((xx - cols / 2) / (cols * 0.32)) ** 2 < 1
    hu[body] = 35.0 + nprng.normal(0.0, 15.0, int(body.sum()))
    for side in (-1, 1):
        lung = ((yy - rows * 0.47) / (rows * 0.17)) ** 2 + (
            (xx - cols / 2 - side * cols * 0.15) / (cols * 0.1)
        ) ** 2 < 1
        hu[lung] = -850.0 + nprng.normal(0.0, 20.0, int(lung.sum()))
    spine = ((yy - rows * 0.7) / (rows * 0.05)) ** 2 + ((xx - cols / 2) / (cols * 0.05)) ** 2 < 1
    hu[spine] = 900.0
    return hu.astype(np.float32)[..., None]


def _xr(rows: int, cols: int, nprng: np.random.Generator) -> np.ndarray:
    """Display brightness 0..1 of a chest-like radiograph (air dark, body bright)."""
    yy, xx = _grid(rows, cols)
    trunk = ((yy - rows * 0.5) / (rows * 0.31)) ** 2 + ((xx - cols / 2) / (cols * 0.31)) ** 2 < 1
    img = np.full((rows, cols), 0.06, dtype=np.float32)
    img[trunk] = 0.55
    for cx in (cols * 0.4, cols * 0.6):
        lung = ((yy - rows * 0.48) / (rows * 0.2)) ** 2 + ((xx - cx) / (cols * 0.09)) ** 2 < 1
        img[lung] = 0.3
    img[(np.abs(xx - cols / 2) < cols * 0.025) & trunk] = 0.85
    img += nprng.normal(0.0, 0.01, (rows, cols)).astype(np.float32)
    return np.clip(img, 0.0, 1.0)[..., None]


def _sc_rgb(rows: int, cols: int, nprng: np.random.Generator, light: bool) -> np.ndarray:
    yy, xx = _grid(rows, cols)
    base = 238.0 if light else 12.0
    img = np.full((rows, cols, 3), base, dtype=np.float32)
    inner = (yy > rows * 0.25) & (yy < rows * 0.75) & (xx > cols * 0.25) & (xx < cols * 0.75)
    blob = np.exp(-(((yy / rows - 0.5) / 0.15) ** 2) - ((xx / cols - 0.5) / 0.18) ** 2)
    for c, gain in enumerate((220.0, 120.0, 60.0)):
        channel = 30.0 + gain * blob + nprng.normal(0.0, 5.0, (rows, cols))
        img[..., c][inner] = channel[inner]
    return img


# ------------------------------------------------------------------------------ datasets


def _uid(seed_key: str, part: str) -> UID:
    return generate_uid(entropy_srcs=[seed_key, part])


def _dataset(
    p: Person, sop_class: str, modality: str, seed_key: str, syntax: str = ExplicitVRLittleEndian
) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = _uid(seed_key, "instance")
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = _uid(seed_key, "study")
    ds.SeriesInstanceUID = _uid(seed_key, "series")
    ds.Modality = modality
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.PatientName = p.pn
    ds.PatientID = p.patient_id
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = p.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = p.study_time
    ds.AccessionNumber = p.accession
    ds.StudyID = "1"
    ds.InstitutionName = p.institution
    ds.OperatorsName = f"{p.operator[0]}^{p.operator[1]}"
    ds.ReferringPhysicianName = f"{p.referring[0]}^{p.referring[1]}"
    ds.Manufacturer = "BENCH IMAGING"
    ds.ManufacturerModelName = f"MODEL-{modality}"
    return ds


def _set_pixels(ds: FileDataset, arr: np.ndarray, photometric: str, bits: int) -> None:
    ds.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)


def _jpeg_frames(frames: np.ndarray) -> list[bytes]:
    """Baseline JPEG, 4:2:2 chroma subsampling, one codestream per RGB frame."""
    out = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame, "RGB").save(buf, "JPEG", quality=92, subsampling=1)
        out.append(buf.getvalue())
    return out


@dataclass(slots=True)
class _Spec:
    family: str  # rgb, gray, palette
    ink: dict[str, tuple[float, ...]]
    colours: tuple[str, ...]
    clinical: str


_GRAY_COLOURS = ("white", "white", "gray")


def build_file(
    kind: str, index: int, seed: int, fonts: list[str]
) -> tuple[FileDataset, FileTruth, dict[str, np.ndarray]]:
    """One file of ``kind``: its dataset, its truth and its masks (``ink_<n>``, ``value_<n>``)."""
    rng = random.Random(f"{seed}-{index}-{kind}")
    nprng = np.random.default_rng([seed, index])
    seed_key = f"bench-detect-{seed}-{index}"
    person = make_person(rng)
    frames = 1
    light = False
    if kind in ("us_rgb", "us_jpeg", "cine_static", "cine_counter"):
        rows, cols = rng.choice(((480, 640), (600, 800), (768, 1024), (434, 636)))
        if kind.startswith("cine"):
            rows, cols, frames = 480, 640, 20
        spec = _Spec("rgb", {}, _DARK_COLOURS, "us")
    elif kind == "ct":
        rows, cols = 512, 512
        ink = {"white": (1900.0,), "gray": (150.0,), "dark": (-1000.0,), "plate": (1900.0,)}
        spec = _Spec("gray", ink, _GRAY_COLOURS, "ct")
    elif kind in ("cr_mono1", "dx_mono2", "dx_rle"):
        rows, cols = rng.choice(((880, 720), (1024, 832), (760, 640)))
        ink = {"white": (0.97,), "gray": (0.6,), "dark": (0.03,), "plate": (0.95,)}
        spec = _Spec("gray", ink, _GRAY_COLOURS, "xr")
    elif kind == "sc_rgb":
        rows, cols = rng.choice(((600, 800), (512, 512), (720, 960)))
        light = rng.random() < 0.4
        spec = _Spec("rgb", {}, _LIGHT_COLOURS if light else _DARK_COLOURS, "sc")
    elif kind == "palette":
        rows, cols = rng.choice(((512, 512), (480, 640)))
        ink = {
            "white": (255.0,),
            "yellow": (170.0,),
            "red": (85.0,),
            "dark": (0.0,),
            "plate": (255.0,),
        }
        spec = _Spec("palette", ink, ("white", "yellow", "red"), "sc")
    else:
        raise ValueError(f"unknown kind {kind}")
    family = spec.family
    lines = phi_lines(person, rng) + clinical_lines(spec.clinical, rng, rng.randint(3, 6))
    rng.shuffle(lines)
    if rng.random() < 0.45:  # a line over the image
        rng.choice(lines).zone = "middle"
    if rng.random() < 0.35:  # a line turned by 90 degrees, along an edge
        candidates = [ln for ln in lines if ln.zone == "margin"]
        rng.choice(candidates).rotated = True
    if kind == "cine_counter":
        lines += [
            _Line([(f"Frame {k + 1}/{frames}", False)], "frame_counter", False, frames=[k])
            for k in range(frames)
        ]
    scale = max(rows, cols) / 800.0 if family != "rgb" else 1.0
    placed = _place_all(lines, rows, cols, rng, spec, fonts, scale)

    truth = FileTruth(
        relpath=f"f{index:04d}_{kind}/img{index:04d}.dcm",
        kind=kind,
        modality="",
        photometric="",
        transfer_syntax="",
        rows=rows,
        cols=cols,
        frames=frames,
        lines=[p.truth for p in placed],
    )
    masks: dict[str, np.ndarray] = {}
    for p in placed:
        masks[f"ink_{p.truth.line}"] = p.alpha >= INK_ALPHA
        if p.value is not None:
            masks[f"value_{p.truth.line}"] = p.value

    ds = _make_dataset(kind, person, seed_key, (rows, cols, frames), placed, nprng, light)
    truth.modality = str(ds.Modality)
    truth.photometric = str(ds.PhotometricInterpretation)
    truth.transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
    return ds, truth, masks


def _place_all(
    lines: list[_Line],
    rows: int,
    cols: int,
    rng: random.Random,
    spec: _Spec,
    fonts: list[str],
    scale: float,
) -> list[_Placed]:
    counters = [ln for ln in lines if ln.frames is not None]
    static = [ln for ln in lines if ln.frames is None]
    layout = _Layout(rows, cols, rng)
    placed = lay_out(
        static, rows, cols, rng, colours=spec.colours, ink=spec.ink, family=spec.family,
        fonts=fonts, layout=layout, size_scale=scale,
    )  # fmt: skip
    if counters:
        # the counter changes in one place: lay out the widest once and put all there
        layout_probe = lay_out(
            [counters[-1]], rows, cols, rng, colours=("white",), ink=spec.ink,
            family=spec.family, fonts=fonts[:1], layout=layout,
        )  # fmt: skip
        if layout_probe:
            anchor = layout_probe[0].truth
            base = len(static)
            for k, ln in enumerate(counters):
                alpha, _ = _render(ln, anchor.font, anchor.size_px)
                h, w = alpha.shape
                x, y = anchor.box[0], anchor.box[1]
                t = LineTruth(
                    line=base + k, kind=ln.kind, phi=False, box=(x, y, w, h), frames=ln.frames,
                    font=anchor.font, size_px=anchor.size_px, colour="white", rotated=False,
                    middle=False, ink_px=int((alpha >= INK_ALPHA).sum()),
                )  # fmt: skip
                placed.append(_Placed(t, alpha, None, _RGB["white"], None))
    for n, p in enumerate(placed):
        p.truth.line = n
    return placed


def _make_dataset(
    kind: str,
    person: Person,
    seed_key: str,
    shape: tuple[int, int, int],
    placed: list[_Placed],
    nprng: np.random.Generator,
    light: bool,
) -> FileDataset:
    rows, cols, frames = shape
    if kind in ("us_rgb", "us_jpeg", "cine_static", "cine_counter"):
        stack = []
        for k in range(frames):
            canvas = _us_frame(rows, cols, nprng, k)
            burn(canvas, placed, k)
            stack.append(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
        pixels = np.stack(stack)
        sop = UltrasoundMultiFrameImageStorage if frames > 1 else UltrasoundImageStorage
        if kind == "us_jpeg":
            ds = _dataset(person, sop, "US", seed_key, JPEGBaseline8Bit)
            ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 3
            ds.PhotometricInterpretation = "YBR_FULL_422"
            ds.PlanarConfiguration = 0
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
            ds.PixelData = encapsulate(_jpeg_frames(pixels))
            ds["PixelData"].VR = "OB"
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = "ISO_10918_1"
        else:
            ds = _dataset(person, sop, "US", seed_key)
            _set_pixels(ds, pixels if frames > 1 else pixels[0], "RGB", 8)
        if frames > 1:
            ds.FrameTime = "33.3"
            ds.FrameIncrementPointer = 0x00181063
        return ds
    if kind == "ct":
        canvas = _ct_hu(rows, cols, nprng)
        burn(canvas, placed, 0)
        ds = _dataset(person, CTImageStorage, "CT", seed_key)
        stored = np.clip(np.rint(canvas[..., 0] + 1024.0), -32768, 32767).astype(np.int16)
        _set_pixels(ds, stored, "MONOCHROME2", 16)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        return ds
    if kind in ("cr_mono1", "dx_mono2", "dx_rle"):
        canvas = _xr(rows, cols, nprng)
        burn(canvas, placed, 0)
        shown = np.clip(canvas[..., 0], 0.0, 1.0)
        if kind == "cr_mono1":
            ds = _dataset(person, ComputedRadiographyImageStorage, "CR", seed_key)
            stored = np.rint((1.0 - shown) * 4095.0).astype(np.uint16)
            _set_pixels(ds, stored, "MONOCHROME1", 12)
        else:
            ds = _dataset(person, DigitalXRayImageStorageForPresentation, "DX", seed_key)
            stored = np.rint(shown * 4095.0).astype(np.uint16)
            _set_pixels(ds, stored, "MONOCHROME2", 12)
            ds.PresentationIntentType = "FOR PRESENTATION"
            if kind == "dx_rle":
                ds.compress(RLELossless, generate_instance_uid=False)
        ds.WindowCenter, ds.WindowWidth = "2048", "4096"
        return ds
    if kind == "sc_rgb":
        canvas = _sc_rgb(rows, cols, nprng, light=light)
        burn(canvas, placed, 0)
        ds = _dataset(person, SecondaryCaptureImageStorage, "OT", seed_key)
        _set_pixels(ds, np.clip(np.rint(canvas), 0, 255).astype(np.uint8), "RGB", 8)
        ds.ConversionType = "WSD"
        return ds
    if kind == "palette":
        yy, xx = _grid(rows, cols)
        blob = np.exp(-(((yy / rows - 0.5) / 0.16) ** 2) - ((xx / cols - 0.5) / 0.18) ** 2)
        canvas = (10.0 + 150.0 * blob + nprng.normal(0.0, 6.0, (rows, cols)))[..., None]
        burn(canvas, placed, 0)
        ds = _dataset(person, SecondaryCaptureImageStorage, "OT", seed_key)
        index = np.clip(np.rint(canvas[..., 0]), 0, 255).astype(np.uint8)
        _set_pixels(ds, index, "PALETTE COLOR", 8)
        ds.ConversionType = "WSD"
        ramp = np.arange(256, dtype=np.float64) * 3.0
        for colour, offset in (("Red", 0.0), ("Green", 255.0), ("Blue", 510.0)):
            lut = (np.clip(ramp - offset, 0.0, 255.0) * 257.0).astype("<u2")
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", lut.tobytes())
        return ds
    raise ValueError(f"unknown kind {kind}")


# -------------------------------------------------------------------------------- the set


def generate(root: Path, files: int, seed: int) -> list[FileTruth]:
    """Write ``files`` DICOM files under ``root/input`` and their truth under ``root/truth``.

    Returns the truth of every file (also written to ``root/truth.json``).
    """
    fonts = available_fonts()
    truths = []
    for index in range(files):
        kind = KINDS[index % len(KINDS)]
        ds, truth, masks = build_file(kind, index, seed, fonts)
        path = root / "input" / truth.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        mask_path = root / "truth" / f"{truth.relpath}.npz"
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(mask_path, **masks)
        truths.append(truth)
    meta = {"format": SET_FORMAT, "files": files, "seed": seed, "fonts": fonts}
    doc = {"set": meta, "files": [asdict(t) for t in truths]}
    (root / "truth.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return truths


def load_truth(root: Path) -> tuple[dict[str, Any], list[FileTruth]]:
    """Read ``root/truth.json`` back: the set's description and every file's truth."""
    doc = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    files = []
    for entry in doc["files"]:
        lines = [LineTruth(**{**ln, "box": tuple(ln["box"]),
                              "plate": tuple(ln["plate"]) if ln["plate"] else None})
                 for ln in entry.pop("lines")]  # fmt: skip
        files.append(FileTruth(**entry, lines=lines))
    return doc["set"], files
