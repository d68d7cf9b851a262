"""RISE maths: the masks, the normalisation by N * p1, batching, a known answer."""

import numpy as np
import pytest
from conftest import oracle_classifier, oracle_images, oracle_object

from keras_neuromask.evaluation.compare import get_method
from keras_neuromask.evaluation.rise import masks_from_plan, plan_masks, rise_saliency


def test_masks_lie_in_unit_range_with_the_requested_shape_and_keep_rate():
    plan = plan_masks(400, (20, 24), grid_size=5, p1=0.3, seed=0)
    masks = masks_from_plan(plan)
    assert masks.shape == (400, 20, 24) and masks.dtype == np.float32
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    assert plan.cell == (4, 5)  # ceil(20 / 5), ceil(24 / 5)
    assert np.all((plan.shifts >= 0) & (plan.shifts < np.array(plan.cell)))
    assert abs(plan.grids.mean() - 0.3) < 0.02
    assert abs(masks.mean() - 0.3) < 0.03


def test_a_mask_is_its_grid_stretched_over_s_plus_one_cells_then_cropped():
    plan = plan_masks(2, (8, 8), grid_size=2, p1=0.5, seed=0)
    plan = plan._replace(grids=np.array([[[1.0, 0.0], [0.0, 0.0]]] * 2, np.float32),
                         shifts=np.array([[0, 0], [1, 2]]))
    masks = masks_from_plan(plan)
    # The 2x2 grid is resized to 12x12 (cell 4, (s + 1) * cell): half-pixel bilinear, output
    # pixel i reads input coordinate (i + 0.5) / 6 - 0.5, clamped at the edges.
    profile = np.clip(1.0 - ((np.arange(12) + 0.5) / 6 - 0.5), 0.0, 1.0)
    np.testing.assert_allclose(masks[0], np.outer(profile[:8], profile[:8]), atol=1e-6)
    np.testing.assert_allclose(masks[1], np.outer(profile[1:9], profile[2:10]), atol=1e-6)


def test_masks_repeat_with_the_seed_and_do_not_depend_on_batching():
    plan = plan_masks(30, (10, 10), seed=3)
    whole = masks_from_plan(plan)
    parts = np.concatenate([masks_from_plan(plan, i, i + 7) for i in range(0, 30, 7)])
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(whole, masks_from_plan(plan_masks(30, (10, 10), seed=3)))
    assert not np.array_equal(whole, masks_from_plan(plan_masks(30, (10, 10), seed=4)))


def test_constant_probability_gives_the_mean_mask_over_p1():
    images = np.ones((1, 12, 12, 3), np.float32)

    def always_one(x):
        return np.tile([[1.0, 0.0]], (len(x), 1))

    saliency = rise_saliency(always_one, images, np.array([0]), num_masks=50, grid_size=3,
                             p1=0.4, batch_size=16, seed=1)
    masks = masks_from_plan(plan_masks(50, (12, 12), grid_size=3, p1=0.4, seed=1))
    np.testing.assert_allclose(saliency[0], masks.sum(0) / (50 * 0.4), rtol=1e-6)


def test_saliency_is_the_score_weighted_sum_of_masks_for_each_image_and_batch_size():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 8, 8, 1)).astype(np.float32)

    def corner_score(x):  # p_0 = mean of the top-left 3x3 of the masked image
        p0 = x[:, :3, :3, 0].mean(axis=(1, 2))
        return np.stack([p0, 1.0 - p0], axis=1)

    masks = masks_from_plan(plan_masks(40, (8, 8), grid_size=4, p1=0.5, seed=2))
    expected = np.stack([
        np.tensordot(corner_score(images[n][None] * masks[..., None])[:, t], masks, 1)
        / (40 * 0.5) for n, t in enumerate([0, 1])])
    for batch_size in (1, 13, 40):
        got = rise_saliency(corner_score, images, np.array([0, 1]), num_masks=40,
                            grid_size=4, p1=0.5, batch_size=batch_size, seed=2)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("bad", [dict(num_masks=0), dict(grid_size=0), dict(p1=0.0),
                                 dict(p1=1.5), dict(batch_size=0)])
def test_bad_options_raise_value_error(bad):
    def score(x):
        return np.ones((len(x), 2))

    options = dict(num_masks=4, grid_size=2, p1=0.5, batch_size=2)
    with pytest.raises(ValueError, match="Expected"):
        rise_saliency(score, np.ones((1, 4, 4, 1), np.float32), np.array([0]),
                      **{**options, **bad})


def test_rise_method_finds_the_oracle_patch_with_few_masks():
    maps = get_method("rise", num_masks=300, seed=0)(oracle_classifier(softmax=True),
                                                     oracle_images(3), [0, 1, 2]).maps
    inside = oracle_object()
    assert all(inside[np.unravel_index(np.argmax(m), m.shape)] for m in maps)
