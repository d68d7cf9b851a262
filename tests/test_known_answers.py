"""Models whose answer is known by construction: the models, and the default finding it."""

import keras
import numpy as np
import pytest

from keras_neuromask import NeuroMask
from keras_neuromask.evaluation import known_answers as ka


@pytest.mark.parametrize("kind", ka.KINDS)
def test_each_model_decides_as_built_and_only_from_its_truth(kind):
    model = ka.known_answer_model(kind, 32)
    data = ka.known_answer_images(kind, 6, 32, seed=1)
    logits = model.predict(data.images, verbose=0)
    np.testing.assert_array_equal(logits.argmax(-1), data.targets)
    if kind == "colour":
        assert not data.truth.any()
        return
    outside = data.images.copy()  # scramble everything off the truth: same answer
    rng = np.random.default_rng(2)
    outside[~data.truth] = rng.uniform(0, 1, outside[~data.truth].shape)
    np.testing.assert_allclose(model.predict(outside, verbose=0), logits, atol=1e-5)


def test_and_needs_both_patches_or_needs_either():
    _, second = ka.patch_slices(32)
    for kind, survives in (("two_patches_and", False), ("two_patches_or", True)):
        model = ka.known_answer_model(kind, 32)
        data = ka.known_answer_images(kind, 3, 32)
        one_hidden = data.images.copy()
        one_hidden[:, second[0], second[1]] = 0.0  # black over the second patch
        logits = model.predict(one_hidden, verbose=0)
        probability = keras.ops.softmax(logits).numpy()[np.arange(3), data.targets]
        assert (probability > 0.9).all() if survives else (probability < 0.5).all(), kind


def test_patches_scale_with_the_image_and_the_models_save_and_load(tmp_path):
    (rows, cols), _ = ka.patch_slices(224)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (56, 112, 112, 168)
    model = ka.known_answer_model("two_patches_and", 64)
    path = tmp_path / "and.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode: built-in layers only
    images = ka.known_answer_images("two_patches_and", 2, 64).images
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-6)


def test_bad_kind_or_size_names_the_problem():
    with pytest.raises(ValueError, match="Expected kind"):
        ka.known_answer_model("three_patches")
    with pytest.raises(ValueError, match="multiple of 8"):
        ka.known_answer_images("one_patch", 2, size=30)


def test_truth_share_and_both_kept_by_hand():
    truth = np.zeros((2, 4, 4), bool)
    truth[:, :2, :2] = True
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, 1.0  # 3 of 4 on the truth
    np.testing.assert_allclose(ka.truth_share(maps, truth), [0.75, np.nan])
    masks = np.zeros((1, 8, 8))
    masks[0, :2, :2] = 1.0
    patches = [(slice(0, 2), slice(0, 2)), (slice(4, 6), slice(4, 6))]
    assert not ka.both_kept(masks, patches)[0]
    masks[0, 4:6, 4:6] = 1.0
    assert ka.both_kept(masks, patches)[0]


@pytest.mark.parametrize("kind", ["one_patch", "two_patches_and"])
def test_default_finds_the_patches_at_32_px(kind):
    model = ka.known_answer_model(kind, 32)
    data = ka.known_answer_images(kind, 3, 32)
    result = NeuroMask(model).explain(data.images, data.targets)
    assert ka.truth_share(result.masks, data.truth).min() >= 0.95
    if kind == "two_patches_and":
        assert ka.both_kept(result.masks, ka.patch_slices(32)).all()


def test_relative_gap_keeps_the_patch_where_the_baseline_keeps_most_of_the_class():
    # at 128 px a 16-px blur keeps much of a 32x32 uniform patch's colour (p 0.75 of 0.98):
    # without the relative term the mask keeps a fifth of the patch (measured 0.20)
    model = ka.known_answer_model("one_patch", 128)
    data = ka.known_answer_images("one_patch", 2, 128)
    (rows, cols), _ = ka.patch_slices(128)
    relative = NeuroMask(model).explain(data.images, data.targets)
    flat = NeuroMask(model, relative_gap=0).explain(data.images, data.targets)
    assert (relative.masks[:, rows, cols].mean(axis=(1, 2)) > 0.85).all()  # measured 0.94
    assert (flat.masks[:, rows, cols].mean(axis=(1, 2)) < 0.5).all()
    assert ka.truth_share(relative.masks, data.truth).min() >= 0.85  # measured 0.92
    assert (relative.masked_probability > 0.97).all()  # the whole image's 0.98


def test_colour_model_baseline_keeps_the_class_and_says_so():
    model = ka.known_answer_model("colour", 32)
    data = ka.known_answer_images("colour", 3, 32)
    result = NeuroMask(model, steps=20).explain(data.images, data.targets)
    assert result.baseline_keeps_class().all()
    np.testing.assert_allclose(result.baseline_probability, result.original_probability,
                               atol=0.05)
    patch = NeuroMask(ka.known_answer_model("one_patch", 32), steps=20)
    patch_data = ka.known_answer_images("one_patch", 3, 32)
    assert not patch.explain(patch_data.images, patch_data.targets).baseline_keeps_class().any()
