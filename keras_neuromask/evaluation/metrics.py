"""Scores for explanation maps: localisation (pointing game, energy), mask area, rank
correlation, and the model-randomisation sanity check.

Maps are ``(N, H, W)`` or one ``(H, W)`` map (then treated as ``N = 1``); every score returns
one float per image, shape ``(N,)``. Deletion and insertion AUC live in
`keras_neuromask.evaluation.fidelity`.
"""

from __future__ import annotations

import numpy as np

# Pixels within this share of the map's range below its maximum count as tied maxima.
TIE_TOLERANCE = 1e-6


def as_maps(maps, name: str = "maps") -> np.ndarray:
    """Checks and returns maps as float64 ``(N, H, W)`` (one ``(H, W)`` map becomes N = 1)."""
    if hasattr(maps, "numpy"):
        maps = maps.numpy()
    try:
        array = np.asarray(maps)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Expected {name} as an array of one shape. Received: "
                         f"{type(maps).__name__} ({error})") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(f"Expected {name} as a numeric array. Received: dtype {array.dtype}")
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(
            f"Expected {name} of shape (N, H, W) or (H, W), non-empty. Received: shape "
            f"{array.shape}"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Expected finite {name}. Received: NaN or Inf values")
    return array[None] if array.ndim == 2 else array


def _as_object_masks(object_masks, shape: tuple[int, ...]) -> np.ndarray:
    masks = as_maps(object_masks, "object_masks")
    if masks.shape != shape:
        raise ValueError(
            f"Expected object_masks of the maps' shape {shape}. Received: {masks.shape}"
        )
    if not np.all((masks == 0) | (masks == 1)):
        raise ValueError("Expected binary object_masks (bool or 0/1). Received: other values")
    masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.any(axis=(1, 2)))
    if empty.size:
        raise ValueError(
            "Expected every object mask to hold at least one pixel. Received: empty masks "
            f"at indices {empty[:10].tolist()}"
        )
    return masks


def _dilate(masks: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a disc: pixels within Euclidean distance ``radius`` of the mask."""
    if radius == 0:
        return masks
    h, w = masks.shape[1:]
    padded = np.pad(masks, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros_like(masks)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                out |= padded[:, radius + dy : radius + dy + h, radius + dx : radius + dx + w]
    return out


def pointing_game(maps, object_masks, tolerance: int = 1) -> np.ndarray:
    """Whether each map's maximum lies on the object, up to ``tolerance`` pixels.

    A hit is a maximum within Euclidean distance ``tolerance`` of an object pixel (Zhang et
    al. use 15 px on ~224 px images; the default 1 px suits 32x32 images). Ties: every pixel
    within ``TIE_TOLERANCE`` x (max - min) of the maximum is a maximum, and the score is the
    share of them that hit, i.e. the expected hit rate when the tie is broken uniformly at
    random. A single maximum scores 0 or 1; a constant map scores the (dilated) object's area
    share, so a flat map cannot win.

    Args:
        maps: ``(N, H, W)`` or ``(H, W)`` explanation maps (any real values).
        object_masks: Ground-truth object pixels, same shape, bool or 0/1, none empty.
        tolerance: Non-negative int, in pixels.

    Returns:
        float64 ``(N,)`` in [0, 1] (0 or 1 unless the maximum is tied).

    References:
        Zhang et al. "Top-down Neural Attention by Excitation Backprop". ECCV 2016.
    """
    maps = as_maps(maps)
    masks = _as_object_masks(object_masks, maps.shape)
    if not isinstance(tolerance, (int, np.integer)) or isinstance(tolerance, bool) or (
        tolerance < 0
    ):
        raise ValueError(f"Expected a non-negative int tolerance. Received: {tolerance!r}")
    top = maps.max(axis=(1, 2), keepdims=True)
    spread = top - maps.min(axis=(1, 2), keepdims=True)
    tied = maps >= top - TIE_TOLERANCE * spread
    hits = tied & _dilate(masks, int(tolerance))
    return hits.sum(axis=(1, 2)) / tied.sum(axis=(1, 2))


def energy(maps, object_masks) -> np.ndarray:
    """Share of each map's non-negative mass that lies on the object.

    ``energy = sum(max(m, 0) * mask) / sum(max(m, 0))``. A map with no positive mass is
    treated as a constant map and scores the object's area share.

    Args:
        maps: ``(N, H, W)`` or ``(H, W)`` explanation maps (negative values are ignored).
        object_masks: Ground-truth object pixels, same shape, bool or 0/1, none empty.

    Returns:
        float64 ``(N,)`` in [0, 1].

    References:
        Wang et al. "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
        Networks". CVPR Workshops 2020 (energy-based pointing game).
    """
    maps = np.maximum(as_maps(maps), 0.0)
    masks = _as_object_masks(object_masks, maps.shape)
    total = maps.sum(axis=(1, 2))
    on_object = (maps * masks).sum(axis=(1, 2))
    area = masks.mean(axis=(1, 2))
    return np.where(total > 0, on_object / np.where(total > 0, total, 1.0), area)


def mask_area(maps) -> np.ndarray:
    """Mean of each map, ``(1 / HW) sum m``: the share of the image a [0, 1] mask keeps.

    Args:
        maps: ``(N, H, W)`` or ``(H, W)`` maps with values in [0, 1].

    Returns:
        float64 ``(N,)`` in [0, 1].
    """
    maps = as_maps(maps)
    if maps.min() < 0 or maps.max() > 1:
        raise ValueError(
            f"Expected maps in [0, 1]. Received: values in [{maps.min():g}, {maps.max():g}]"
        )
    return maps.mean(axis=(1, 2))


def rank_average(values) -> np.ndarray:
    """Ranks (1 = smallest) along the last axis of a 2-D array; ties get their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    rows, size = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    new_group = np.ones_like(ordered, dtype=bool)
    new_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = np.cumsum(new_group.ravel()) - 1  # groups never span rows (each row starts one)
    counts = np.bincount(group)
    first = np.cumsum(counts) - counts  # flat index of each group's first element
    position = first % size + (counts - 1) / 2.0 + 1.0
    ranks = np.empty_like(values)
    np.put_along_axis(ranks, order, position[group].reshape(rows, size), axis=1)
    return ranks


def spearman_correlation(a, b) -> np.ndarray:
    """Spearman rank correlation between paired maps, one value per image.

    ``rho = pearson(rank(a), rank(b))`` over the pixels of each image, with tied values given
    their average rank (as ``scipy.stats.spearmanr``). NaN where either map is constant.

    Args:
        a: ``(N, H, W)`` or ``(H, W)`` maps (any shape with a leading N works: flattened).
        b: Maps of the same shape.

    Returns:
        float64 ``(N,)`` in [-1, 1].
    """
    a, b = as_maps(a, "a"), as_maps(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"Expected maps of the same shape. Received: {a.shape} and {b.shape}")
    ra = rank_average(a.reshape(a.shape[0], -1))
    rb = rank_average(b.reshape(b.shape[0], -1))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (ra * rb).sum(axis=1) / denominator, np.nan)
