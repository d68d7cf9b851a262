"""Marks on pictures: captions, the faded part a crop left out, the overlay a person sees."""

import numpy as np
import pytest

from keras_neuromask.framing import Box, plan_framing
from keras_neuromask.results.annotate import caption, explanation_picture, fade_outside


def _photo(height=120, width=200, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_a_caption_is_drawn_at_the_top_left_only_and_the_picture_keeps_its_size():
    photo = _photo()
    labelled = caption(photo, "Egyptian cat 0.80")
    assert labelled.shape == photo.shape and labelled.dtype == np.uint8
    changed = np.argwhere((labelled != photo).any(-1))
    assert len(changed) > 100 and changed[:, 0].max() < 40 and changed[:, 1].max() < 200
    assert (labelled[60:] == photo[60:]).all()
    assert (photo == _photo()).all()  # the caller's picture is not drawn on


def test_a_long_caption_is_cut_to_the_pictures_width():
    labelled = caption(_photo(100, 100), "a very long class name " * 10)
    assert labelled.shape == (100, 100, 3)
    with pytest.raises(TypeError, match="Expected `text`"):
        caption(_photo(), 3)


def test_outside_the_box_is_faded_gray_and_inside_it_is_the_picture():
    picture, original = _photo(seed=1), _photo(seed=2)
    faded = fade_outside(picture, original, Box(10, 50, 100, 100))
    assert (faded[10:110, 50:150] == picture[10:110, 50:150]).all()
    outside = faded[:, :50].astype(int)
    assert (outside[..., 0] == outside[..., 1]).all() and (outside[..., 1] == outside[..., 2]).all()
    assert 64 <= outside.min() and outside.max() <= 192
    with pytest.raises(ValueError, match="Expected picture and original of one shape"):
        fade_outside(picture, original[:10], Box(0, 0, 5, 5))


def test_the_explanation_picture_is_the_photos_size_with_the_mask_where_the_model_saw_it():
    photo = np.full((120, 200, 3), 128, np.uint8)
    framing = plan_framing((120, 200), (30, 30), "crop")  # the centre 120 x 120
    mask = np.zeros((30, 30), np.float32)
    mask[5:10, 20:25] = 1.0  # rows 20:40, columns 40 + 80:100 of the photo
    picture = explanation_picture(photo, mask, framing=framing, label="thing 0.50")
    assert picture.shape == (120, 200, 3)
    hot = picture[..., 0].astype(int) - picture[..., 2].astype(int)  # jet: red where kept
    assert hot[28, 130] > 50 and hot[80, 60] < 0  # kept vs. not kept, inside the crop
    outside = picture[60:, :40].astype(int)
    assert (outside[..., 0] == outside[..., 2]).all()  # gray: the model did not see it
    small = explanation_picture(_photo(32, 32), np.zeros((8, 8)), label="thing 0.50")
    plain = explanation_picture(_photo(32, 32), np.zeros((8, 8)))
    assert (small == plain).all()  # too small for a caption: none drawn
