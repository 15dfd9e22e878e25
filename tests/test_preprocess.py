import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.runtime.preprocess import (
    BlankPictureError,
    PictureError,
    centre_of_mass,
    is_blank,
    open_picture,
    to_model_input,
)


def drawn_seven(size=(300, 200), offset=(40, 20), ink=0, paper=255, width=14, mode="L"):
    """A '7' drawn off-centre with a thick pen, like a user drawing on a canvas."""
    image = Image.new("L", size, paper)
    draw = ImageDraw.Draw(image)
    x, y = offset
    draw.line([(x, y), (x + 120, y), (x + 50, y + 150)], fill=ink, width=width, joint="curve")
    return image.convert(mode) if mode != "L" else image


def test_digit_output_is_28x28_unit_range_with_centre_of_mass_in_the_middle():
    out = to_model_input(drawn_seven(), "mnist")
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_digit_fits_the_20x20_box_keeping_aspect_ratio():
    out = to_model_input(drawn_seven(), "mnist")
    rows = np.flatnonzero((out > 0.1).any(axis=1))
    cols = np.flatnonzero((out > 0.1).any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert 19 <= height <= 21  # the long side fills the box
    assert 12 <= width <= 19   # the short side keeps the aspect ratio (~0.8)


def test_polarity_does_not_matter():
    dark_on_light = to_model_input(drawn_seven(ink=0, paper=255), "mnist")
    light_on_dark = to_model_input(drawn_seven(ink=255, paper=0), "mnist")
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=1e-5)


def test_position_and_scale_do_not_matter():
    small = to_model_input(drawn_seven(size=(600, 600), offset=(400, 10), width=14), "mnist")
    big = to_model_input(drawn_seven(size=(300, 200), offset=(40, 20), width=14), "mnist")
    assert np.abs(small - big).mean() < 0.05


def test_transparent_background_is_composited():
    rgba = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).line([(40, 20), (160, 20), (90, 170)], fill=(0, 0, 0, 255), width=14,
                                   joint="curve")
    reference = to_model_input(drawn_seven(), "mnist")
    np.testing.assert_allclose(to_model_input(rgba, "mnist"), reference, atol=0.02)
    white_ink = Image.new("RGBA", (300, 200), (255, 255, 255, 0))
    ImageDraw.Draw(white_ink).line([(40, 20), (160, 20), (90, 170)], fill=(255, 255, 255, 255), joint="curve",
                                   width=14)
    np.testing.assert_allclose(to_model_input(white_ink, "mnist"), reference, atol=0.02)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "CMYK", "1", "I", "F"])
def test_every_pillow_mode_gives_the_same_input(mode):
    reference = to_model_input(drawn_seven(), "mnist")
    base = drawn_seven()
    if mode == "I;16":
        image = Image.fromarray((np.asarray(base, np.uint16) * 257))
        assert image.mode.startswith("I;16")
    else:
        image = base.convert(mode)
    assert np.abs(to_model_input(image, "mnist") - reference).max() < 0.05


@pytest.mark.parametrize("array", [
    np.asarray(drawn_seven()),
    np.asarray(drawn_seven())[..., None],
    np.asarray(drawn_seven("RGB" and (300, 200), mode="RGB")),
    np.asarray(drawn_seven()).astype(np.float32) / 255,
    np.asarray(drawn_seven()) > 127,
    np.asarray(drawn_seven()).astype(np.uint16) * 257,
])
def test_numpy_arrays_of_any_dtype(array):
    reference = to_model_input(drawn_seven(), "mnist")
    assert np.abs(to_model_input(array, "mnist") - reference).max() < 0.2


def test_exif_orientation_is_honoured():
    upright = drawn_seven(size=(200, 300), offset=(30, 60))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # camera stored it sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif, quality=95)
    buffer.seek(0)
    from_file = to_model_input(Image.open(buffer), "mnist")
    assert np.abs(from_file - to_model_input(upright, "mnist")).mean() < 0.03


@pytest.mark.parametrize("picture", [
    np.zeros((0, 0)), np.zeros((1, 1)), np.full((1, 1), 255, np.uint8),
    np.zeros((200, 200), np.uint8), np.full((50, 80, 3), 255, np.uint8),
    np.full((100, 100), 128, np.uint8), Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
    np.random.default_rng(0).integers(0, 8, (100, 100)).astype(np.uint8),  # faint noise
])
def test_blank_pictures_are_reported_not_classified(picture):
    assert is_blank(picture)
    with pytest.raises(BlankPictureError):
        to_model_input(picture, "mnist")
    with pytest.raises(BlankPictureError):
        to_model_input(picture, "fashion_mnist")


def test_extreme_aspect_ratios():
    wide = np.zeros((50, 10000), np.uint8)
    wide[20:30, 100:9900] = 255
    out = to_model_input(wide, "mnist")
    assert out.shape == (28, 28) and out.max() > 0.5
    tall = to_model_input(wide.T.copy(), "mnist")
    assert tall.shape == (28, 28) and abs(centre_of_mass(tall)[0] - 14) <= 1


def test_a_single_dot_is_a_picture_not_a_crash():
    dot = np.zeros((100, 100), np.uint8)
    dot[10, 90] = 255
    out = to_model_input(dot, "mnist")
    assert out.shape == (28, 28) and abs(centre_of_mass(out)[1] - 14) <= 1


def test_fashion_pipeline_trims_fits_longest_edge_pads_centred_and_negates():
    photo = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(photo).rectangle([100, 50, 299, 249], fill=(60, 60, 60))  # a dark 200x200 bag
    ImageDraw.Draw(photo).rectangle([300, 100, 339, 199], fill=(60, 60, 60))  # handle: 240 wide
    out = to_model_input(photo, "fashion_mnist")
    assert out.shape == (28, 28)
    cols = np.flatnonzero((out > 0.1).any(axis=0))
    rows = np.flatnonzero((out > 0.1).any(axis=1))
    assert cols[0] == 0 and cols[-1] == 27          # longest edge fills the field
    assert 22 <= rows[-1] - rows[0] + 1 <= 25        # 200/240 of 28, padded centred
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1
    assert out[0, 0] == 0 and out[14, 10] > 0.6      # dark background, bright product


def test_fashion_keeps_intensity_no_digit_box():
    shirt = np.zeros((280, 280), np.uint8)
    shirt[40:240, 60:220] = 120
    out = to_model_input(shirt, "fashion_mnist")
    assert out.max() == pytest.approx(120 / 255, abs=0.05)  # not stretched to full ink
    digit = to_model_input(shirt, "mnist")
    assert (digit > 0.1).any(axis=0).sum() <= 20            # the digit pipeline uses the 20x20 box


def test_open_picture_reports_bad_files_clearly(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    buffer = io.BytesIO()
    drawn_seven().save(buffer, "PNG")
    truncated.write_bytes(buffer.getvalue()[:200])
    for path, words in ((empty, "empty"), (text, "not a picture"), (truncated, "damaged"),
                        (tmp_path, "folder"), (tmp_path / "missing.png", "does not exist")):
        with pytest.raises(PictureError, match=words):
            open_picture(path)


def test_open_picture_reduces_large_images_and_takes_the_first_gif_frame(tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("L", (6000, 4000), 255).save(big)
    assert max(open_picture(big).size) <= 1024
    gif = tmp_path / "anim.gif"
    frames = [drawn_seven().convert("P"), Image.new("P", (300, 200), 0)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert not is_blank(open_picture(gif))


def test_decompression_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000), 0).save(bomb)  # ~50 kB on disk, 400 M pixels decoded
    with pytest.raises(PictureError, match="too large"):
        open_picture(bomb)


def test_a_huge_jpeg_photo_is_decoded_reduced_not_refused(tmp_path):
    huge = Image.new("L", (14000, 14000), 255)  # 196 M pixels: beyond Pillow's bomb limit
    ImageDraw.Draw(huge).line([(4000, 2000), (8400, 2000), (5800, 12000)], fill=0, width=700)
    path = tmp_path / "huge.jpg"
    huge.save(path, quality=60)
    del huge
    picture = open_picture(path)
    assert max(picture.size) <= 1024
    small = Image.new("L", (1400, 1400), 255)  # the same drawing at a tenth of the size
    ImageDraw.Draw(small).line([(400, 200), (840, 200), (580, 1200)], fill=0, width=70)
    reference = to_model_input(small, "mnist")
    assert np.abs(to_model_input(picture, "mnist") - reference).mean() < 0.05
    assert Image.MAX_IMAGE_PIXELS is not None  # the global guard is back in place


@pytest.mark.parametrize("as_scan", [False, True], ids=["bright-on-black", "dark-on-white"])
def test_fashion_pictures_keep_their_texture_through_preprocessing(shared_data, as_scan):
    """A garment fills most of its picture: the paper-noise floor must come from the paper, not
    from the garment's own texture (which it once wiped out: 92.8% -> 81.5% on these)."""
    from training.core.datasets import load_dataset
    from training.modelfile.sidecar import shipped_model_path, tflite_path
    from training.runtime.lite import LiteModel

    data = load_dataset("fashion_mnist", shared_data, allow_download=False)
    pictures, labels = data.x_test[:1000], data.y_test[:1000]
    model = LiteModel(tflite_path(shipped_model_path("fashion_mnist")))
    raw = model.predict_batch(pictures.astype(np.float32) / 255).argmax(1)
    shown = [255 - p if as_scan else p for p in pictures]
    prepared = model.predict_batch(np.stack([to_model_input(p, "fashion_mnist")
                                             for p in shown])).argmax(1)
    raw_accuracy, prepared_accuracy = np.mean(raw == labels), np.mean(prepared == labels)
    assert prepared_accuracy >= raw_accuracy - 0.01, (raw_accuracy, prepared_accuracy)


@pytest.mark.parametrize("paper", [0, 255])
def test_a_stroke_run_off_the_canvas_edge_is_still_a_clean_drawing(paper):
    """A stroke begun above the canvas crosses its border: the picture keeps the clean
    drawing's fast path (the grey is the ink) and gets the input the paper model gives it."""
    from training.runtime import paper as paper_model
    from training.runtime.preprocess import to_grey

    image = Image.new("L", (560, 560), paper)
    ImageDraw.Draw(image).line([(310, -40), (300, 420)], fill=255 - paper, width=28)
    grey = to_grey(np.asarray(image))
    ink = paper_model._clean_drawing_ink(grey)
    assert ink is not None
    modelled = paper_model._checked_ink(paper_model._photo_ink(grey, True))
    assert np.abs(ink - modelled).max() < 0.05
    assert np.abs(to_model_input(image, "mnist")
                  - to_model_input(Image.fromarray((modelled * 255).astype(np.uint8)),
                                   "mnist")).max() < 0.02
