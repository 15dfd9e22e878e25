"""Photos of digits on paper (issue #9, item 4): uneven light, grey paper, chalk, specks, texture.

Each picture is a '7' composited onto synthetic paper; the reference is the same '7' drawn clean
(black on white), which the shipped model reads. Small pictures, generated here, fast.
"""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from training.preprocess import BlankPictureError, centre_of_mass, is_blank, to_model_input

SIZE = (240, 200)  # width, height


def seven(offset=(50, 25)) -> np.ndarray:
    """Pen coverage in [0, 1] of a '7' (anti-aliased by a slight blur, like a photographed pen)."""
    mask = Image.new("L", SIZE, 0)
    x, y = offset
    ImageDraw.Draw(mask).line([(x, y), (x + 100, y), (x + 40, y + 140)], fill=255, width=12,
                              joint="curve")
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(0.8)), np.float32) / 255


def on_paper(coverage, paper, ink, light=None) -> np.ndarray:
    """uint8 grey photo: paper and ink mixed by the pen's coverage, times the lighting."""
    picture = paper * (1 - coverage) + ink * coverage
    if light is not None:
        picture = picture * light
    return (np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8)


def reference() -> np.ndarray:
    return to_model_input(on_paper(seven(), 1.0, 0.0), "mnist")


def assert_reads_like_the_clean_seven(out):
    assert out.shape == (28, 28) and out.max() == pytest.approx(1.0)
    assert np.abs(out - reference()).mean() < 0.03
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_dark_ink_on_mid_grey_paper_is_bright_ink_not_blank():
    for paper in (0.45, 0.5, 0.55):
        picture = on_paper(seven(), paper, 0.08)
        assert not is_blank(picture)
        assert_reads_like_the_clean_seven(to_model_input(picture, "mnist"))


def test_light_ink_on_darker_paper():
    for paper in (0.15, 0.55):  # a chalkboard, and white gel pen on mid-grey card
        picture = on_paper(seven(), paper, 0.95)
        assert_reads_like_the_clean_seven(to_model_input(picture, "mnist"))


def test_strong_lighting_gradient_gives_a_tight_centred_crop():
    light = np.linspace(0.4, 1.0, SIZE[0], dtype=np.float32)[None, :]  # dark on the left
    picture = on_paper(seven(offset=(110, 30)), 0.95, 0.08, light)
    out = to_model_input(picture, "mnist")
    rows = np.flatnonzero((out > 0.1).any(axis=1))
    assert 19 <= rows[-1] - rows[0] + 1 <= 21  # the digit, not the shaded paper, fills the box
    assert_reads_like_the_clean_seven(out)


def test_vignette_and_soft_shadow_do_not_count_as_ink():
    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]].astype(np.float32)
    vignette = 1 - 0.35 * ((x - 120) ** 2 + (y - 100) ** 2) / 120 ** 2
    shadow = 1 - 0.3 / (1 + np.exp(-(x + 0.5 * y - 260) / 12))  # bottom-right corner shaded
    picture = on_paper(seven(offset=(30, 20)), 0.92, 0.1, vignette * shadow)
    assert_reads_like_the_clean_seven(to_model_input(picture, "mnist"))


def test_a_speck_far_from_the_digit_does_not_enlarge_the_crop_box():
    picture = on_paper(seven(), 1.0, 0.0)
    picture[180:186, 220:226] = 0  # a dust speck in the bottom-right corner
    assert_reads_like_the_clean_seven(to_model_input(picture, "mnist"))


def test_a_tiny_faint_mark_is_blank_and_a_tiny_dot_is_not_blown_up():
    paper = np.full((400, 400), 230, np.uint8)
    paper[200:204, 150:154] = 190  # a 4-pixel smudge, 17 % darker than the paper
    assert is_blank(paper)
    with pytest.raises(BlankPictureError):
        to_model_input(paper, "mnist")
    dot = np.full((400, 400), 255, np.uint8)
    dot[100:103, 300:303] = 0  # a full-strength 3-pixel dot: classified, but kept small
    out = to_model_input(dot, "mnist")
    assert 0 < (out > 0.5).sum() <= 100  # not a 20x20 blob (400 pixels)


def test_uniform_picture_and_bare_textured_paper_are_blank():
    rng = np.random.default_rng(3)
    cloudy = np.asarray(Image.fromarray(rng.normal(0, 1, (12, 12)).astype(np.float32)).resize(
        (SIZE[0], SIZE[1]), Image.Resampling.BICUBIC))
    grain = rng.normal(0, 1, (SIZE[1], SIZE[0]))
    light = np.linspace(0.75, 1.0, SIZE[0])[None, :]
    textured = (0.9 + 0.03 * cloudy / cloudy.std() + 0.015 * grain) * light
    for picture in (np.full((SIZE[1], SIZE[0]), 140, np.uint8),
                    (np.clip(textured, 0, 1) * 255).astype(np.uint8)):
        assert is_blank(picture)
        with pytest.raises(BlankPictureError):
            to_model_input(picture, "mnist")
