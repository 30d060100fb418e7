"""Small units: boxes, regions, sampling, the PHI decision, release paths, discovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomscrub.batch.discover import discover
from dicomscrub.batch.paths import flagged_components, prefixes_of, release_relpath
from dicomscrub.header.keys import ProjectKey
from dicomscrub.header.pseudonyms import Pseudonymizer
from dicomscrub.models import BBox
from dicomscrub.pixels.boxes import merge_boxes
from dicomscrub.pixels.candidates import prepare_block
from dicomscrub.pixels.detect import sample_indices
from dicomscrub.pixels.phi_policy import PhiMatcher, edit_distance_at_most
from dicomscrub.pixels.preprocess import upscale_factor
from dicomscrub.pixels.roi import margin_regions
from dicomscrub.terms import date_variants

MATCHER = PhiMatcher.from_header(
    names=["GARLAND^JOHN^L", "WELBY^MARCUS"],
    identifiers=["MRN25846520", "LAKESIDE COMMUNITY CLINIC"],
    dates=["20241115", "19560630"],
)


def test_overlapping_boxes_merge_and_distant_ones_do_not() -> None:
    a, b, far = BBox(0, 0, 10, 10), BBox(2, 0, 10, 10), BBox(50, 50, 5, 5)
    assert merge_boxes([a, b, far], 0.2) == [BBox(0, 0, 12, 10), far]
    assert merge_boxes([a, BBox(9, 0, 10, 10)], 0.2) == [a, BBox(9, 0, 10, 10)]
    assert merge_boxes([a, BBox(2, 2, 2, 2)], 0.9) == [a]  # containment always merges


def test_expanded_boxes_stay_inside_the_image() -> None:
    assert BBox(1, 1, 5, 5).expanded(8, rows=10, cols=10) == BBox(0, 0, 10, 10)


def test_margins_cover_each_pixel_once_and_zero_turns_a_margin_off() -> None:
    regions = margin_regions(100, 200, 0.25, 0.25, 0.25, 0.25)
    mask = np.zeros((100, 200), int)
    for r in regions:
        mask[r.y : r.bottom, r.x : r.right] += 1
    assert mask.max() == 1
    assert mask[50, 100] == 0 and mask[0, 0] == 1 and mask[50, 0] == 1
    assert margin_regions(100, 200, 0.08, 0, 0, 0) == [BBox(0, 0, 200, 8)]
    assert margin_regions(100, 200, 0, 0, 0, 0) == []


def test_sampled_frames_include_the_first_and_last() -> None:
    assert sample_indices(300, 5) == [0, 75, 150, 224, 299]
    assert sample_indices(3, 5) == [0, 1, 2]
    assert sample_indices(1, 5) == [0]
    assert sample_indices(0, 5) == []


@pytest.mark.parametrize(
    "text",
    ["GARLAND", "GARLAN0", "JOHN", "MRN25846520", "25846520", "11/15/2024", "2024-11-15",
     "15.11.2024", "15-NOV-2024", "Nov 15, 2024", "12:21:44", "617-555-0142", "LAKESIDE",
     "(617) 555-0142", "XK48213", "BERNARD: SOPHIE", "DOE, JANE", "HOPITAL CARDIO",
     "HOPITALCARDIO LYON", "04Sap 2024", "O4 SEP 2024", "Dcc 3, 2019", "04 Sop 2024"],
)  # fmt: skip
def test_phi_words_are_recognised_including_misreads(text: str) -> None:
    assert MATCHER.line_rule(text.split()) is not None


@pytest.mark.parametrize(
    "text",
    ["C5-1", "MI 0.8", "TIS 0.4", "FR 30Hz", "DEPTH 16cm", "L", "2D", "Frame 12/20",
     "Frame 123/300", "IM 12/120", "Gain 52%"],
)  # fmt: skip
def test_clinical_annotations_are_not_phi(text: str) -> None:
    assert MATCHER.line_rule(text.split()) is None
    assert MATCHER.line_rule([text.replace(" ", "")]) is None  # read without its spaces


@pytest.mark.parametrize("text", ["IM 25846520", "Frame 12/20 MRN 4471920", "SE 12345", "03/2019"])
def test_a_readout_word_does_not_hide_an_id(text: str) -> None:
    assert MATCHER.line_rule(text.split()) is not None
    assert MATCHER.line_rule([text.replace(" ", "")]) is not None


def test_date_variants_cover_common_human_formats() -> None:
    variants = date_variants("20240318")
    for form in ("20240318", "03182024", "18032024", "031824", "3182024", "18MAR2024"):
        assert form in variants


def test_edit_distance_is_bounded() -> None:
    assert edit_distance_at_most("GARLAND", "GARLAN0", 1)
    assert not edit_distance_at_most("GARLAND", "WELBY", 2)
    assert edit_distance_at_most("ABCDEFGH", "ABCDFGH", 1)


def test_blank_blocks_are_not_sent_to_ocr_and_dark_backgrounds_are_inverted() -> None:
    whole = BBox(0, 0, 40, 20)
    assert prepare_block(np.zeros((20, 40), np.uint8), whole, 2, 4) is None
    assert prepare_block(np.full((20, 40), 90, np.uint8), whole, 2, 4) is None
    region = np.zeros((20, 40), np.uint8)
    region[5:8, 5:30] = 255  # a bright stroke on black
    prepared = prepare_block(region, whole, 2, 4)
    assert prepared is not None and prepared.scale == 2
    assert prepared.image.shape == ((20 + 8) * 2, (40 + 8) * 2)
    assert np.median(prepared.image) == 255  # background turned light, text dark
    assert prepared.image[(4 + 6) * 2, (4 + 10) * 2] < 64


@pytest.mark.parametrize(("background", "banner", "ink"), [(0, 110, 255), (255, 255, 0)])
def test_text_on_a_banner_or_light_box_reaches_ocr_as_dark_on_white(
    background: int, banner: int, ink: int
) -> None:
    region = np.full((40, 200), background, np.uint8)
    region[0:20, :] = banner  # a coloured banner across the top
    region[8:11, 20:120] = ink  # a stroke of text on the banner
    prepared = prepare_block(region, BBox(0, 0, 200, 40), 1, 0)
    assert prepared is not None and prepared.scale == 1
    assert prepared.image[9, 50] < 64  # the stroke is dark
    assert prepared.image[15, 50] > 192 and prepared.image[30, 50] > 192  # banner and bg light


def test_small_images_are_upscaled_more() -> None:
    assert [upscale_factor(c) for c in (256, 320, 640, 1024, 1280, 4000)] == [4, 4, 2, 2, 1, 1]


def test_release_paths_rename_phi_folders_and_remap_uid_names() -> None:
    pseudo = Pseudonymizer(ProjectKey(b"p" * 32), "anon", (-10, -1))
    rel = "GARLAND_JOHN/2024-11-15/1.2.840.99.1.2.dcm"
    flags = set(prefixes_of(rel, flagged_components(rel, MATCHER)))
    out = release_relpath(rel, flags, pseudo).split("/")
    assert out[0].startswith("anon_") and out[1].startswith("anon_")
    assert out[2].startswith("2.25.") and out[2].endswith(".dcm")
    assert release_relpath("study/IM0001", set(), pseudo) == "study/IM0001"


def test_discovery_recognises_dicom_by_content_not_extension(tmp_path: Path) -> None:
    from dicomscrub.samples import make_ct

    make_ct(uid_seed="d").dataset.save_as(tmp_path / "image.txt", enforce_file_format=True)
    (tmp_path / "notes.dcm").write_text("hello")
    (tmp_path / "empty.dcm").write_bytes(b"")
    found = discover(tmp_path)
    assert [rel for _, rel in found.files] == ["image.txt"]
    assert found.not_dicom == 2


def test_a_value_read_as_its_own_line_goes_with_the_phi_label_beside_it() -> None:
    from dicomscrub.pixels.detect import text_lines
    from dicomscrub.pixels.ocr.base import OcrWord

    words = [
        OcrWord("NAME:", BBox(10, 10, 50, 12), 0.9, line=0),
        OcrWord("XQZWV", BBox(66, 11, 60, 12), 0.9, line=1),  # same row, split off
        OcrWord("C5-1", BBox(300, 10, 40, 12), 0.9, line=2),  # same row, far away
        OcrWord("MI", BBox(10, 60, 20, 12), 0.9, line=3),  # another row
    ]
    boxes = [box for box, _, _ in text_lines(words, MATCHER, 0.0, "phi")]
    assert boxes == [BBox(10, 10, 116, 13)]


def test_all_text_takes_every_line_and_phi_only_the_lines_that_hold_phi() -> None:
    from dicomscrub.pixels.detect import text_lines
    from dicomscrub.pixels.ocr.base import OcrWord

    words = [
        OcrWord("03/18/2024", BBox(10, 10, 90, 12), 0.9, line=0),
        OcrWord("C5-1", BBox(10, 60, 40, 12), 0.2, line=1),  # clinical, weakly read
        OcrWord("MI", BBox(10, 110, 20, 12), 0.9, line=2),
        OcrWord("1.2", BBox(40, 110, 30, 12), 0.9, line=2),
    ]
    every = text_lines(words, MATCHER, 0.5, "all-text")
    assert [box for box, _, _ in every] == [BBox(10, 10, 90, 12), BBox(10, 60, 40, 12),
                                         BBox(10, 110, 60, 12)]  # fmt: skip
    assert {rule for _, rule, _ in every} == {"all-text"}
    assert [box for box, _, _ in text_lines(words, MATCHER, 0.5, "phi")] == [BBox(10, 10, 90, 12)]


def test_full_frame_searches_the_whole_frame_and_margins_only_the_margins() -> None:
    from dicomscrub.config import PixelConfig
    from dicomscrub.pixels.roi import search_regions

    assert search_regions(100, 200, PixelConfig(full_frame=True)) == [BBox(0, 0, 200, 100)]
    margins = search_regions(100, 200, PixelConfig())
    assert margins == margin_regions(100, 200, 0.25, 0.25, 0.25, 0.25)
    assert BBox(0, 0, 200, 100) not in margins


def test_an_unknown_redact_policy_is_refused(tmp_path: Path) -> None:
    from dicomscrub.config import DeidConfig, OutputConfig, PixelConfig
    from dicomscrub.errors import ConfigError

    places = OutputConfig(input=tmp_path / "in", output=tmp_path / "out", headers=tmp_path / "h")
    with pytest.raises(ConfigError, match="--redact"):
        DeidConfig(pixels=PixelConfig(redact="everything"), output=places).validate()
    no_margins = PixelConfig(full_frame=True, top_ratio=0, bottom_ratio=0, left_ratio=0,
                             right_ratio=0)  # fmt: skip
    DeidConfig(pixels=no_margins, output=places).validate()  # the whole frame is searched
