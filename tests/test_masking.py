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


def test_mask_at_size_bilinear_is_upsample_of_sigmoid_and_identity_at_full_size():
    params = tf.random.stateless_normal((2, 4, 4, 1), seed=[1, 2])
    np.testing.assert_array_equal(
        masking.mask_at_size(params, (16, 16), 0.4, "mask_bilinear"),
        masking.upsample(masking.mask_from_params(params, 0.4), (16, 16)))
    for kind in masking.UPSAMPLINGS:
        np.testing.assert_array_equal(masking.mask_at_size(params, (4, 4), 0.4, kind),
                                      masking.mask_from_params(params, 0.4))


def test_bicubic_parameters_draw_the_same_shape_at_every_image_size():
    # one kept cell in the middle of a 7x7 grid: the kept share and the outline's place are
    # the same at 35 and 350 pixels, and the mask is sharp (nearly 0 or 1) at both
    params = np.full((1, 7, 7, 1), -4.0, np.float32)
    params[0, 3, 3] = 4.0
    small = masking.mask_at_size(tf.constant(params), (35, 35), 0.2, "parameters_bicubic")
    large = masking.mask_at_size(tf.constant(params), (350, 350), 0.2, "parameters_bicubic")
    small, large = small.numpy()[0, ..., 0], large.numpy()[0, ..., 0]
    assert abs(small.mean() - large.mean()) < 0.005
    assert 0.01 < large.mean() < 0.05
    # the large mask at the small pixels' centres: the same kept pixels, up to the outline
    assert ((large[5::10, 5::10] > 0.5) != (small > 0.5)).mean() < 0.01
    assert ((large < 0.05) | (large > 0.95)).mean() > 0.95
    assert small.min() >= 0 and large.max() <= 1


def test_unknown_upsampling_is_refused():
    with pytest.raises(ValueError, match="Expected upsampling in"):
        masking.mask_at_size(tf.zeros((1, 2, 2, 1)), (4, 4), 1.0, "nearest")


def test_bicubic_upsample_equals_tf_resize_and_compiles_with_xla():
    values = tf.random.stateless_normal((2, 8, 6, 1), seed=[3, 4])
    for size in ((32, 32), (240, 320), (8, 6)):
        np.testing.assert_allclose(masking.bicubic_upsample(values, size),
                                   tf.image.resize(values, size, method="bicubic"), atol=2e-6)
    compiled = tf.function(lambda v: masking.bicubic_upsample(v, (40, 30)), jit_compile=True)
    np.testing.assert_allclose(compiled(values), masking.bicubic_upsample(values, (40, 30)),
                               atol=1e-6)
