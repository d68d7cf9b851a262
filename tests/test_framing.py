"""Fitting a photo to a model's input (crop, pad, squash) and mapping a mask back onto it."""

import numpy as np
import pytest

from keras_neuromask.framing import Box, frame_pixels, mask_to_photo, plan_framing


def test_crop_keeps_the_centred_box_of_the_inputs_aspect_ratio():
    assert plan_framing((300, 451), (240, 240), "crop").source == Box(0, 75, 300, 300)
    assert plan_framing((451, 300), (240, 240), "crop").source == Box(75, 0, 300, 300)
    assert plan_framing((100, 100), (20, 40), "crop").source == Box(25, 0, 50, 100)
    assert plan_framing((300, 451), (240, 240), "crop").target == Box(0, 0, 240, 240)


def test_pad_fits_the_whole_photo_inside_the_input_centred():
    framing = plan_framing((300, 451), (240, 240), "pad")
    assert framing.source == Box(0, 0, 300, 451)
    assert framing.target == Box(40, 0, 160, 240)  # 300 * 240 / 451 = 159.6 rows
    assert plan_framing((451, 300), (240, 240), "pad").target == Box(0, 40, 240, 160)


def test_squash_uses_the_whole_photo_and_the_whole_input():
    framing = plan_framing((30, 50), (8, 8), "squash")
    assert framing.source == Box(0, 0, 30, 50) and framing.target == Box(0, 0, 8, 8)


def _photo_with_a_square(height, width, box):
    photo = np.zeros((height, width, 3), np.float32)
    photo[box.slices] = 255.0
    return photo


@pytest.mark.parametrize("mode", ["crop", "pad", "squash"])
@pytest.mark.parametrize("shape", [(60, 100), (100, 60)])
def test_a_known_region_of_the_photo_lands_where_it_was_in_the_mapped_back_mask(mode, shape):
    """The model's input is thresholded into a mask (what the square became there); mapped
    back, that mask covers the square of the photo and nothing else."""
    square = Box(shape[0] // 2 - 10, shape[1] // 2 + 2, 16, 12)  # inside every crop
    photo = _photo_with_a_square(*shape, square)
    framing = plan_framing(shape, (32, 32), mode)
    seen = frame_pixels(photo, framing)[..., 0] / 255.0
    assert seen.shape == (32, 32)
    back = mask_to_photo(seen, framing) > 0.5
    truth = np.zeros(shape, bool)
    truth[square.slices] = True
    iou = (back & truth).sum() / (back | truth).sum()
    assert iou > 0.8, (mode, shape, iou)


def test_crop_at_scale_one_is_exact_and_the_mask_is_zero_outside_the_crop():
    rng = np.random.default_rng(0)
    photo = rng.uniform(0, 255, (32, 64, 3)).astype(np.float32)
    framing = plan_framing((32, 64), (32, 32), "crop")
    assert framing.source == Box(0, 16, 32, 32)
    np.testing.assert_array_equal(frame_pixels(photo, framing), photo[:, 16:48])
    mask = rng.uniform(0, 1, (32, 32)).astype(np.float32)
    back = mask_to_photo(mask, framing)
    np.testing.assert_array_equal(back[:, 16:48], mask)
    assert not back[:, :16].any() and not back[:, 48:].any()


def test_pad_at_scale_one_puts_the_photo_between_black_bars_and_drops_them_on_the_way_back():
    rng = np.random.default_rng(1)
    photo = rng.uniform(1, 255, (16, 32, 3)).astype(np.float32)
    framing = plan_framing((16, 32), (32, 32), "pad")
    assert framing.target == Box(8, 0, 16, 32)
    framed = frame_pixels(photo, framing)
    np.testing.assert_array_equal(framed[8:24], photo)
    assert not framed[:8].any() and not framed[24:].any()
    mask = rng.uniform(0, 1, (32, 32)).astype(np.float32)
    np.testing.assert_array_equal(mask_to_photo(mask, framing), mask[8:24])


def test_framing_never_changes_the_callers_arrays():
    photo = np.full((10, 20, 3), 7.0, np.float32)
    mask = np.full((8, 8), 0.5, np.float32)
    framing = plan_framing((10, 20), (8, 8), "crop")
    frame_pixels(photo, framing), mask_to_photo(mask, framing)
    assert (photo == 7.0).all() and (mask == 0.5).all()


def test_framing_records_itself_as_json():
    assert plan_framing((300, 451), (240, 240)).to_json() == {
        "resize": "crop", "photo_size": [300, 451], "input_size": [240, 240],
        "source": [0, 75, 300, 300], "target": [0, 0, 240, 240]}


@pytest.mark.parametrize("call, message", [
    (lambda: plan_framing((10, 10), (8, 8), "stretch"), "Expected `resize` to be one of"),
    (lambda: plan_framing((0, 10), (8, 8)), "Expected `photo_size`"),
    (lambda: plan_framing((10, 10), (8,)), "Expected `input_size`"),
    (lambda: frame_pixels(np.zeros((5, 5, 3)), plan_framing((10, 10), (8, 8))), "Expected pixels"),
    (lambda: mask_to_photo(np.zeros((5, 5)), plan_framing((10, 10), (8, 8))), "Expected a mask"),
])
def test_bad_framing_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
