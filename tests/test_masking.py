"""Known-answer tests of the mask maths and baselines."""

import numpy as np
import pytest
import tensorflow as tf

from keras_neuromask import masking


def test_mask_is_sigmoid_of_params_over_temperature():
    params = tf.constant([[[[0.0]], [[0.6]]]])
    np.testing.assert_allclose(masking.mask_from_params(params, 0.3)[0, :, 0, 0],
                               [0.5, 1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_upsample_keeps_range_and_is_identity_at_full_size():
    mask = tf.constant(np.random.default_rng(0).uniform(size=(2, 4, 4, 1)), tf.float32)
    assert masking.upsample(mask, (4, 4)) is mask
    big = masking.upsample(mask, (16, 12))
    assert big.shape == (2, 16, 12, 1)
    assert float(tf.reduce_min(big)) >= 0.0 and float(tf.reduce_max(big)) <= 1.0


def test_blend_reveals_image_where_mask_is_one_and_baseline_where_zero():
    images = tf.fill((1, 2, 2, 3), 5.0)
    baseline = tf.fill((1, 2, 2, 3), 1.0)
    mask = tf.constant([[[[1.0], [0.0]], [[0.5], [0.25]]]])
    out = masking.blend(images, mask, baseline).numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[5.0, 1.0], [3.0, 2.0]])


def test_blur_keeps_a_constant_image_and_smooths_a_spike():
    constant = tf.fill((1, 9, 9, 2), 0.7)
    np.testing.assert_allclose(masking.gaussian_blur(constant, 1.5), constant, atol=1e-6)
    spike = np.zeros((1, 9, 9, 1), np.float32)
    spike[0, 4, 4] = 1.0
    blurred = masking.gaussian_blur(tf.constant(spike), 1.0).numpy()
    assert blurred[0, 4, 4, 0] < 0.2 and blurred.sum() == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("kind", masking.BASELINES)
def test_every_baseline_has_the_images_shape_and_is_finite(kind):
    images = tf.constant(np.random.default_rng(1).uniform(size=(2, 8, 6, 3)), tf.float32)
    baseline = masking.make_baseline(images, kind, seed=3).numpy()
    assert baseline.shape == (2, 8, 6, 3) and np.isfinite(baseline).all()


def test_mean_baseline_is_each_images_mean_colour():
    images = tf.constant(np.random.default_rng(2).uniform(size=(2, 5, 5, 3)), tf.float32)
    baseline = masking.make_baseline(images, "mean").numpy()
    np.testing.assert_allclose(baseline[:, 0, 0], images.numpy().mean(axis=(1, 2)), rtol=1e-5)


def test_given_baseline_of_wrong_shape_is_refused():
    images = tf.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match="broadcastable"):
        masking.make_baseline(images, np.zeros((4, 4, 3)))


def test_unknown_baseline_name_is_refused():
    with pytest.raises(ValueError, match="Expected baseline"):
        masking.make_baseline(tf.zeros((1, 4, 4, 1)), "sepia")
