"""Known-answer tests for deletion and insertion AUC (RISE protocol)."""

import keras
import numpy as np
import pytest

from keras_neuromask.evaluation.fidelity import (
    FidelityResult,
    deletion_auc,
    gaussian_blur,
    insertion_auc,
)


def _linear_model(weights):
    """Logits (w . x, 0): p(class 0) = sigmoid(w . x), so each pixel's effect is known."""
    h, w, c = weights.shape
    model = keras.Sequential([keras.Input((h, w, c)), keras.layers.Flatten(),
                              keras.layers.Dense(2, use_bias=False)])
    kernel = np.stack([weights.reshape(-1), np.zeros(h * w * c)], axis=1)
    model.set_weights([kernel.astype(np.float32)])
    return model


def _mean_probability(batch):
    """A plain callable that outputs probabilities (m, 1 - m), m = mean pixel value."""
    m = np.asarray(batch).mean(axis=(1, 2, 3))
    return np.stack([m, 1.0 - m], axis=1)


def test_deletion_and_insertion_auc_exact_on_a_pixel_counting_model():
    images = np.ones((2, 4, 4, 1), np.float32)  # 16 pixels, 17 steps: one pixel per step
    maps = np.random.default_rng(0).random((2, 4, 4))
    deletion = deletion_auc(_mean_probability, images, maps, 0, steps=17)
    assert isinstance(deletion, FidelityResult)
    np.testing.assert_allclose(deletion.curves, np.tile(1 - np.arange(17) / 16, (2, 1)))
    np.testing.assert_allclose(deletion.auc, [0.5, 0.5])  # probabilities used as they are
    np.testing.assert_allclose(deletion.fractions, np.linspace(0, 1, 17))
    # The blur of a constant image is the same constant (borders are normalised): flat at 1.
    insertion = insertion_auc(_mean_probability, images, maps, 0, steps=17)
    np.testing.assert_allclose(insertion.curves, 1.0, atol=1e-6)
    np.testing.assert_allclose(insertion.auc, [1.0, 1.0], atol=1e-6)


def test_preprocess_is_applied_after_perturbing():
    images = np.ones((1, 4, 4, 1), np.float32)
    result = deletion_auc(_mean_probability, images, np.zeros((4, 4)), 0, steps=17,
                          preprocess=lambda x: 1.0 - x)
    np.testing.assert_allclose(result.curves[0], np.arange(17) / 16)


def test_map_ordered_by_effect_gives_lowest_deletion_curve_on_linear_model():
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(8, 8, 2))
    images = rng.random((2, 8, 8, 2)).astype(np.float32)
    model = _linear_model(weights)
    effect = (weights[None] * images).sum(axis=-1)  # deleting pixel p lowers w.x by effect_p
    best = deletion_auc(model, images, effect, 0, steps=33)
    worst = deletion_auc(model, images, -effect, 0, steps=33)
    for trial in range(10):
        random = deletion_auc(model, images, rng.random((2, 8, 8)), 0, steps=33)
        assert np.all(best.curves <= random.curves + 1e-6)
        assert np.all(best.auc < random.auc) and np.all(random.auc < worst.auc)
    np.testing.assert_allclose(best.curves[:, 0], worst.curves[:, 0])  # same start and end
    np.testing.assert_allclose(best.curves[:, -1], 0.5, atol=1e-6)  # all zeros: logits (0, 0)


def test_map_ordered_by_effect_gives_highest_insertion_curve_on_linear_model():
    rng = np.random.default_rng(2)
    weights = rng.normal(size=(8, 8, 3))
    images = rng.random((2, 8, 8, 3)).astype(np.float32)
    model = _linear_model(weights)
    blurred = gaussian_blur(images)
    effect = (weights[None] * (images - blurred)).sum(axis=-1)  # inserting pixel p
    best = insertion_auc(model, images, effect, 0)
    for trial in range(10):
        random = insertion_auc(model, images, rng.random((2, 8, 8)), 0)
        assert np.all(best.curves >= random.curves - 1e-6)
        assert np.all(best.auc > random.auc)


def test_softmax_output_detected_and_used_directly():
    rng = np.random.default_rng(3)
    logits_model = _linear_model(rng.normal(size=(6, 6, 1)))
    softmax_model = keras.Sequential([logits_model, keras.layers.Softmax()])
    images = rng.random((3, 6, 6, 1)).astype(np.float32)
    maps = rng.random((3, 6, 6))
    for metric in (deletion_auc, insertion_auc):
        a = metric(logits_model, images, maps, steps=9)
        b = metric(softmax_model, images, maps, steps=9)
        np.testing.assert_allclose(a.curves, b.curves, atol=1e-6)
        np.testing.assert_array_equal(a.targets, b.targets)


def test_curves_match_a_direct_loop_across_uneven_batches():
    rng = np.random.default_rng(4)
    model = _linear_model(rng.normal(size=(5, 5, 1)))
    images = rng.random((3, 5, 5, 1)).astype(np.float32)
    maps = rng.random((3, 5, 5))
    result = deletion_auc(model, images, maps, [0, 1, 0], steps=6, batch_size=4)
    for i in range(3):
        order = np.argsort(-maps[i].ravel(), kind="stable")
        for k, fraction in enumerate(np.linspace(0, 1, 6)):
            x = images[i].copy().reshape(25, 1)
            x[order[: int(round(fraction * 25))]] = 0.0
            logits = keras.ops.convert_to_numpy(model(x.reshape(1, 5, 5, 1)))[0]
            p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            np.testing.assert_allclose(result.curves[i, k], p[[0, 1, 0][i]], rtol=1e-5)
    np.testing.assert_allclose(
        result.auc, (result.curves[:, 1:] + result.curves[:, :-1]).sum(1) / 10
    )


def test_targets_default_to_prediction_and_single_image_is_accepted():
    rng = np.random.default_rng(5)
    model = _linear_model(rng.normal(size=(4, 4, 1)))
    image = rng.random((4, 4, 1)).astype(np.float32)
    predicted = int(np.argmax(keras.ops.convert_to_numpy(model(image[None]))))
    result = deletion_auc(model, image, rng.random((4, 4)), steps=5)
    assert result.auc.shape == (1,) and result.curves.shape == (1, 5)
    assert result.targets.tolist() == [predicted]


def test_gaussian_blur_keeps_constants_and_spreads_an_impulse_by_the_kernel():
    constant = np.full((1, 9, 7, 2), 0.7)
    np.testing.assert_allclose(gaussian_blur(constant), 0.7, rtol=1e-6)
    impulse = np.zeros((1, 21, 21, 1))
    impulse[0, 10, 10, 0] = 1.0
    blurred = gaussian_blur(impulse, sigma=2.0, radius=3)[0, :, :, 0]
    k = np.exp(-np.arange(-3, 4) ** 2 / 8.0)
    k /= k.sum()
    np.testing.assert_allclose(blurred[7:14, 7:14], np.outer(k, k), rtol=1e-5)
    assert blurred.sum() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(maps=np.zeros((2, 8, 7))),
        dict(maps=np.zeros((3, 8, 8))),
        dict(steps=1),
        dict(batch_size=0),
        dict(targets=[0, 1, 1]),
        dict(targets=5),
    ],
)
def test_bad_inputs_raise_value_error_expected_received(kwargs):
    model = _linear_model(np.ones((8, 8, 1)))
    args = dict(images=np.ones((2, 8, 8, 1)), maps=np.zeros((2, 8, 8)), targets=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match="Expected .*Received"):
        deletion_auc(model, args.pop("images"), args.pop("maps"), args.pop("targets"), **args)
