"""Known-answer tests for the localisation scores, mask area and Spearman correlation."""

import numpy as np
import pytest

from keras_neuromask.evaluation.metrics import (
    connected_pieces,
    count_components,
    energy,
    mask_area,
    pointing_game,
    rank_average,
    spearman_correlation,
    top_pixels,
)


def _square_masks():
    masks = np.zeros((3, 12, 12), dtype=bool)
    masks[0, 2:5, 2:5] = True
    masks[1, 6:10, 3:8] = True
    masks[2, 0:2, 9:12] = True
    return masks


def test_perfect_map_scores_one_on_pointing_and_energy():
    masks = _square_masks()
    np.testing.assert_array_equal(pointing_game(masks.astype(float), masks), [1, 1, 1])
    np.testing.assert_allclose(energy(masks.astype(np.float32), masks), [1, 1, 1])


def test_inverted_map_scores_zero_energy():
    masks = _square_masks()
    np.testing.assert_array_equal(energy(1.0 - masks, masks), [0, 0, 0])


def test_pointing_maximum_one_pixel_off_object_hits_only_within_tolerance():
    mask = np.zeros((10, 10), dtype=bool)
    mask[3:6, 3:6] = True
    near, diagonal, far = (np.zeros((10, 10)) for _ in range(3))
    near[4, 6] = 1.0  # 1 px right of the object
    diagonal[2, 2] = 1.0  # sqrt(2) px from the corner (3, 3)
    far[9, 9] = 1.0
    masks = np.stack([mask] * 3)
    maps = np.stack([near, diagonal, far])
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=0), [0, 0, 0])
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=1), [1, 0, 0])
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=2), [1, 1, 0])
    np.testing.assert_array_equal(pointing_game(maps, masks), [1, 0, 0])  # default: 1 px


def test_pointing_ties_score_the_share_of_tied_maxima_on_the_object():
    mask = np.zeros((8, 8), dtype=bool)
    mask[0:2, 0:2] = True  # 4 px
    plateau = np.zeros((8, 8))
    plateau[0, 0:4] = 1.0  # 2 of 4 tied maxima on the object
    constant = np.full((8, 8), 0.3)
    scores = pointing_game(np.stack([plateau, constant]), np.stack([mask, mask]), tolerance=0)
    np.testing.assert_allclose(scores, [0.5, 4 / 64])


def test_single_map_is_scored_as_a_batch_of_one():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1, 1] = True
    assert pointing_game(mask * 1.0, mask).shape == (1,)
    assert energy(mask * 1.0, mask).shape == (1,)
    assert mask_area(mask * 1.0).shape == (1,)


def test_energy_known_answers_constant_partial_negative_and_zero_maps():
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :] = True  # a quarter of the image
    constant = np.ones((4, 4))
    partial = np.where(mask, 3.0, 1.0)  # on object 4 * 3 = 12, off object 12 * 1 = 12
    negative = np.where(mask, 1.0, -5.0)  # negative values carry no mass
    zero = np.zeros((4, 4))  # treated as a constant map
    maps = np.stack([constant, partial, negative, zero])
    np.testing.assert_allclose(energy(maps, np.stack([mask] * 4)), [0.25, 0.5, 1.0, 0.25])


def test_mask_area_is_the_mean_of_the_map():
    maps = np.zeros((2, 4, 4), dtype=np.float32)
    maps[0, :2] = 1.0
    maps[1] = 0.25
    np.testing.assert_allclose(mask_area(maps), [0.5, 0.25])
    with pytest.raises(ValueError, match="Expected maps in \\[0, 1\\]. Received"):
        mask_area(maps * 4 - 1)


def test_spearman_equals_hand_computed_value_with_ties():
    # ranks a = [1, 2.5, 2.5, 4], b = [1, 4, 2.5, 2.5]; centred dot 2.25, norms^2 4.5 -> 0.5
    a = np.array([[1.0, 2.0], [2.0, 3.0]])
    b = np.array([[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_allclose(rank_average([[1.0, 2.0, 2.0, 3.0]]), [[1, 2.5, 2.5, 4]])
    np.testing.assert_allclose(spearman_correlation(a, b), [0.5])


def test_spearman_of_monotone_maps_is_one_reversed_is_minus_one_constant_is_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5))
    np.testing.assert_allclose(spearman_correlation(x, np.exp(x)), [1.0, 1.0])
    np.testing.assert_allclose(spearman_correlation(x, -(x**3)), [-1.0, -1.0])
    assert np.isnan(spearman_correlation(x[0], np.zeros((5, 5)))).all()


def test_rank_average_matches_a_direct_definition_on_random_ties():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 4, size=(6, 15)).astype(float)
    expected = np.array(
        [[(row < v).sum() + ((row == v).sum() + 1) / 2 for v in row] for row in values]
    )
    np.testing.assert_allclose(rank_average(values), expected)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pointing_game(np.zeros((2, 8, 8)), np.ones((2, 8, 9), bool)),
        lambda: energy(np.zeros((2, 8, 8)), np.ones((3, 8, 8), bool)),
        lambda: spearman_correlation(np.zeros((2, 8, 8)), np.zeros((2, 8, 7))),
        lambda: pointing_game(np.zeros((2, 8, 8)), np.zeros((2, 8, 8), bool)),
        lambda: pointing_game(np.zeros((8, 8)), np.ones((8, 8), bool), tolerance=-1),
        lambda: energy(np.zeros((8, 8)), np.full((8, 8), 0.5)),
        lambda: mask_area(np.zeros((2, 3, 8, 8))),
        lambda: mask_area(np.full((4, 4), np.nan)),
    ],
)
def test_bad_inputs_raise_value_error_expected_received(call):
    with pytest.raises(ValueError, match="Expected .*Received"):
        call()


def test_non_numeric_maps_raise_type_error():
    with pytest.raises(TypeError, match="Expected maps as a numeric array"):
        mask_area(np.array([["a", "b"]]))


def test_connected_pieces_counts_blobs_that_touch_by_a_corner_as_one():
    maps = np.zeros((4, 10, 10))
    maps[0, 2:5, 2:5] = 1.0  # one 3x3 blob: 9 px, the top 10% ties at its value
    maps[1, 1, 1] = maps[1, 8, 8] = maps[1, 1, 8] = 1.0  # three single pixels
    maps[2, 3, 3] = maps[2, 4, 4] = maps[2, 5, 5] = 1.0  # a diagonal: 8-connected, one piece
    maps[3, 0, 0:3] = maps[3, 0, 5:8] = 1.0  # two bars, three pixels apart
    np.testing.assert_array_equal(connected_pieces(maps), [1, 3, 1, 2])


def test_connected_pieces_takes_the_top_share_by_value_with_ties_included():
    ramp = np.arange(100, dtype=float).reshape(10, 10)  # top 10% = the last row
    np.testing.assert_array_equal(top_pixels(ramp)[0].sum(axis=1), [0] * 9 + [10])
    two_peaks = np.zeros((10, 10))
    two_peaks[1, 1:6] = 3.0  # 5 px, the highest
    two_peaks[8, 1:6] = 2.0  # 5 px: with them the top 10 px
    two_peaks[5, 8] = 1.0  # the 11th: outside the top 10%
    np.testing.assert_array_equal(connected_pieces(two_peaks), [2])
    np.testing.assert_array_equal(connected_pieces(two_peaks, top_share=0.05), [1])
    plateau = np.zeros((10, 10))
    plateau[:, :3] = 1.0  # 30 tied pixels at the top: all of them count, in one piece
    assert top_pixels(plateau).sum() == 30 and connected_pieces(plateau)[0] == 1


def test_connected_pieces_of_a_constant_map_is_zero_and_the_minimum_never_counts():
    np.testing.assert_array_equal(connected_pieces(np.full((2, 8, 8), 0.7)), [0, 0])
    sparse = np.zeros((20, 20))  # a CAM-like map: 0 almost everywhere, 2 px above it
    sparse[2, 2] = sparse[15, 15] = 0.5
    np.testing.assert_array_equal(connected_pieces(sparse), [2])


def test_connected_pieces_is_the_same_after_an_increasing_transform_and_a_rotation():
    maps = np.random.default_rng(3).random((3, 24, 24))
    pieces = connected_pieces(maps)
    np.testing.assert_array_equal(connected_pieces(np.exp(5 * maps) - 2), pieces)
    np.testing.assert_array_equal(connected_pieces(np.rot90(maps, axes=(1, 2))), pieces)
    np.testing.assert_array_equal(connected_pieces(maps[0]), pieces[:1])


def test_count_components_follows_a_long_winding_path_to_one_piece():
    size = 61  # rows 0, 2, ..., 60 joined at alternate ends: one path of ~1,900 pixels
    snake = np.zeros((size, size), bool)
    snake[0::2, :] = True
    snake[1::4, -1] = snake[3::4, 0] = True
    assert count_components(snake) == 1
    snake[30, 10] = False  # cut the path once: two pieces
    assert count_components(snake) == 2
    assert count_components(np.eye(7, dtype=bool)) == 1  # a diagonal, corner to corner
    assert count_components(np.zeros((5, 5), bool)) == 0


def test_count_components_agrees_with_scipy_label_on_random_masks():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    for density in (0.05, 0.3, 0.5, 0.6):
        selected = rng.random((60, 70)) < density
        expected = ndimage.label(selected, structure=np.ones((3, 3)))[1]
        assert count_components(selected) == expected


def test_connected_pieces_rejects_a_bad_top_share():
    for bad in (0.0, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="top_share"):
            connected_pieces(np.zeros((4, 4)), top_share=bad)
