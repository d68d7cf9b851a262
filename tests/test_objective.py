"""The objective is a function of explicit inputs: no Keras model or explainer needed."""

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask import losses
from keras_neuromask.objective import Objective, loss_scale_for
from keras_neuromask.settings import Settings


def test_terms_of_a_plain_callable_match_a_hand_computed_pixel_loss():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(4 * 4 * 3, 2)).astype(np.float32)

    def classify(images):  # logits of a linear model, any callable will do
        return tf.reshape(images, [tf.shape(images)[0], -1]) @ weights

    settings = Settings.from_preset("pixel", baseline="zero")  # one parameter per pixel
    objective = Objective(settings, classify, from_logits=True)
    images = rng.uniform(size=(1, 4, 4, 3)).astype(np.float32)
    params = rng.normal(size=(1, 4, 4, 1)).astype(np.float32)
    terms = objective.terms(tf.constant(params), tf.constant(images),
                            objective.baseline(tf.constant(images)), tf.constant([1]))
    mask = 1 / (1 + np.exp(-params[0, :, :, 0] / settings.temperature))
    logits = (images[0] * mask[..., None]).reshape(-1) @ weights
    cross_entropy = np.log(np.exp(logits).sum()) - logits[1]
    tv = np.abs(np.diff(mask, axis=0)).mean() + np.abs(np.diff(mask, axis=1)).mean()
    expected = cross_entropy + settings.sparsity_weight * mask.mean() + tv
    np.testing.assert_allclose(terms.loss.numpy(), [expected], rtol=1e-5)
    np.testing.assert_allclose(terms.target_probability.numpy(),
                               [np.exp(logits[1]) / np.exp(logits).sum()], rtol=1e-5)


def test_initial_params_follow_the_settings_and_seed_each_image_by_its_index():
    def classify(x):
        return x[:, 0, 0, :]

    constant = Objective(Settings.from_preset("default", init="constant", mask_grid=3),
                         classify, True)
    np.testing.assert_array_equal(constant.initial_params(2, 8, 8), np.zeros((2, 3, 3, 1)))
    uniform = Objective(Settings.from_preset("paper-cifar"), classify, True, seed=4)
    both = uniform.initial_params(2, 5, 5).numpy()
    second = uniform.initial_params(1, 5, 5, first_index=1).numpy()
    np.testing.assert_array_equal(both[1:], second)
    assert np.abs(both).max() <= 10.0 and not np.array_equal(both[0], both[1])


def test_loss_scale_is_large_only_for_float16_classifiers():
    class Half:
        compute_dtype = "float16"

    assert loss_scale_for(Half()) == 4096.0 and loss_scale_for(object()) == 1.0


def test_preservation_to_the_original_is_zero_once_the_masked_image_beats_the_whole():
    # a classifier that sees only the mean of each image: the kept image's probability of
    # class 0 exceeds the original's exactly when more of the bright pixels are kept
    inputs = keras.Input((4, 4, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    classifier = keras.Model(inputs, keras.layers.Concatenate()([mean * 8.0, -mean * 8.0]))
    images = tf.constant(np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 4, 4, 1))
    targets = tf.constant([0])
    settings = Settings.from_preset("default", preservation_target="original", blur_sigma=1.0,
                                    relative_gap=0)  # the absolute term
    objective = Objective(settings, lambda x: classifier(x, training=False), True)
    baseline = tf.zeros_like(images)
    original = objective.original_loss(images, targets)
    np.testing.assert_allclose(original, losses.preservation(
        classifier(images), targets, from_logits=True), rtol=1e-6)
    everything = tf.fill((1, 4, 4, 1), 50.0)  # m = 1: x' = x, the term is exactly 0
    nothing = tf.fill((1, 4, 4, 1), -50.0)  # m = 0: x' = 0, worse than the original
    kept = objective.terms(everything, images, baseline, targets).preservation
    hidden = objective.terms(nothing, images, baseline, targets).preservation
    np.testing.assert_allclose(kept, [0.0], atol=1e-6)
    expected = losses.preservation(classifier(baseline), targets, from_logits=True) - original
    np.testing.assert_allclose(hidden, expected, rtol=1e-5)
    assert Objective(settings.replace(preservation_target="one"), classifier,
                     True).original_loss(images, targets) is None


def test_relative_gap_divides_the_term_by_the_share_of_g0_the_baseline_removes():
    # logits (8 mean, -8 mean): on an image of mean 0.5 the baseline (zeros) removes
    # g = log p(x) - log p(b) = log(sigmoid(8)) - log(1/2) nats, about 0.693
    inputs = keras.Input((2, 2, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    classifier = keras.Model(inputs, keras.layers.Concatenate()([mean * 8.0, -mean * 8.0]))
    images = tf.fill((1, 2, 2, 1), 0.5)
    targets, baseline = tf.constant([0]), tf.zeros((1, 2, 2, 1))
    half = tf.fill((1, 2, 2, 1), 0.0)  # m = 1/2 everywhere: x' has mean 0.25
    gap = np.log(1 / (1 + np.exp(-8.0))) - np.log(0.5)
    lost = np.log(1 / (1 + np.exp(-8.0))) - np.log(1 / (1 + np.exp(-4.0)))
    for g0, factor in ((2.0, 2.0 / gap), (0.5, 1.0), (1e-3, 1.0), (100.0, 100.0)):
        settings = Settings.from_preset("default", baseline="zero", relative_gap=g0)
        objective = Objective(settings, classifier, True)
        original = objective.original_loss(images, targets)
        scale = objective.preservation_scale(baseline, targets, original)
        np.testing.assert_allclose(scale, [factor], rtol=1e-5)  # 1 / clip(g / g0, 0.01, 1)
        term = objective.terms(half, images, baseline, targets).preservation
        np.testing.assert_allclose(term, [lost * factor], rtol=1e-4)
    absolute = Objective(Settings.from_preset("default", relative_gap=0), classifier, True)
    assert absolute.preservation_scale(baseline, targets, original) is None


def test_saliency_start_reveals_the_cells_of_the_known_answer_and_hides_the_rest():
    from conftest import oracle_classifier, oracle_images

    for size, grid in ((128, 8), (32, 16)):  # the 32-px start is drawn at 8x8 cells
        model = oracle_classifier(size=size)
        settings = Settings.from_preset("default", init="saliency", mask_grid=grid)
        objective = Objective(settings, model, from_logits=True)
        images = tf.constant(oracle_images(2, size=size))
        start = objective.initial_params(2, size, size, images=images,
                                         baseline=objective.baseline(images),
                                         targets=tf.constant([0, 1])).numpy()[..., 0]
        assert start.shape == (2, grid, grid) and np.all(np.abs(start) <= 2.0)
        cell = size // grid
        for params in start:  # the oracle's patch: rows 8-16, cols 16-24
            row, col = np.unravel_index(np.argmax(params), params.shape)
            centre = (row + 0.5) * cell, (col + 0.5) * cell
            assert 8 <= centre[0] <= 16 + cell and 16 - cell <= centre[1] <= 24 + cell
            assert params.max() > 1.0 and np.median(params) < 0
    with np.testing.assert_raises_regex(ValueError, "Expected images, baseline and targets"):
        objective.initial_params(2, 32, 32)


def test_warm_start_keeps_signs_and_small_values_and_brings_saturated_cells_within_reach():
    settings = Settings.from_preset("default", init_value=-1.0)
    objective = Objective(settings, lambda x: x, from_logits=True)
    params = tf.constant([-300.0, -5.0, -1.1, -1.0, -0.9, 3.0, 400.0])[None, :, None, None]
    start = objective.warm_start(params).numpy().ravel()
    assert np.all(np.abs(start + 1.0) <= 2.0)  # within init_value +- A
    np.testing.assert_array_equal(np.sign(start + 1.0), np.sign(params.numpy().ravel() + 1.0))
    assert np.all(np.diff(start) > 0)  # the order of the cells is kept
    np.testing.assert_allclose(start[2:5], [-1.1, -1.0, -0.9], atol=2e-3)  # near-identity
