"""Scores for explanation maps: localisation (pointing game, energy), readability (connected
pieces), mask area, rank correlation, and the model-randomisation sanity check.

Maps are ``(N, H, W)`` or one ``(H, W)`` map (then treated as ``N = 1``); every score returns
one value per image, shape ``(N,)``. Deletion and insertion AUC live in
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


def top_pixels(maps, top_share: float = 0.1) -> np.ndarray:
    """The pixels of each map's top ``top_share``, as a boolean ``(N, H, W)`` array.

    With ``k = ceil(top_share * H * W)`` and ``t`` the k-th largest value of the map, a pixel
    is selected when ``m >= t`` and ``m > min(m)``. Ties at ``t`` are all selected (so the
    answer does not depend on pixel order: a rotated map selects the rotated pixels), which
    can select more than ``k`` pixels; pixels at the map's minimum never count (a Grad-CAM map
    that is 0 on 95% of the image has only its 5% to select), so a constant map selects none.

    Args:
        maps: ``(N, H, W)`` or ``(H, W)`` maps (any real values; only their order matters).
        top_share: Share of the pixels to select, in (0, 1].

    Returns:
        bool ``(N, H, W)``.
    """
    maps = as_maps(maps)
    if isinstance(top_share, bool) or not isinstance(top_share, (int, float, np.number)) or not (
        0.0 < float(top_share) <= 1.0
    ):
        raise ValueError(f"Expected top_share in (0, 1]. Received: {top_share!r}")
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    k = max(1, int(np.ceil(float(top_share) * h * w - 1e-9)))
    threshold = np.partition(flat, h * w - k, axis=1)[:, h * w - k]
    selected = (flat >= threshold[:, None]) & (flat > flat.min(axis=1, keepdims=True))
    return selected.reshape(n, h, w)


# Neighbours that 8-connectivity links to a pixel, looking forward in raster order.
_FORWARD_NEIGHBOURS = ((0, 1), (1, -1), (1, 0), (1, 1))


def count_components(selected: np.ndarray) -> int:
    """The number of 8-connected components of the True pixels of one ``(H, W)`` array.

    Union-find in NumPy: every pair of selected neighbours is an edge; each round hooks the
    larger root of every edge whose ends have different roots onto the smaller one
    (``np.minimum.at``), then flattens the trees by pointer jumping (``parent =
    parent[parent]``) until every pixel points at its root. The roots left are the
    components. Rounds are few (each merges every tree with a neighbour), and a round is a
    handful of vectorised passes over the selected pixels.

    Args:
        selected: bool ``(H, W)``.

    Returns:
        The count (0 when nothing is selected).
    """
    selected = np.asarray(selected, bool)
    if selected.ndim != 2:
        raise ValueError(f"Expected a 2-D (H, W) array. Received: shape {selected.shape}")
    count = int(selected.sum())
    if count <= 1:
        return count
    h, w = selected.shape
    index = np.full((h, w), -1, np.int64)
    index[selected] = np.arange(count)
    firsts, seconds = [], []
    for dy, dx in _FORWARD_NEIGHBOURS:
        source = index[: h - dy, max(0, -dx) : w - max(0, dx)]
        target = index[dy:, max(0, dx) : w - max(0, -dx)]
        linked = (source >= 0) & (target >= 0)
        firsts.append(source[linked])
        seconds.append(target[linked])
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    parent = np.arange(count)
    while True:
        root_a, root_b = parent[first], parent[second]
        apart = root_a != root_b
        if not apart.any():
            break
        low = np.minimum(root_a[apart], root_b[apart])
        high = np.maximum(root_a[apart], root_b[apart])
        np.minimum.at(parent, high, low)  # roots only point down: no cycles
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return int(np.count_nonzero(parent == np.arange(count)))


def connected_pieces(maps, top_share: float = 0.1) -> np.ndarray:
    """Readability: the number of 8-connected pieces of each map's top ``top_share`` pixels.

    ``pieces(m) = #components_8(top(m, top_share))``, with ``top`` as in :func:`top_pixels`
    (the pixels at or above the k-th largest value, ``k = ceil(top_share * H * W)``, ties
    included, the map's minimum excluded) and two pixels connected when they touch by an edge
    or a corner. One compact blob scores 1; a speckle of isolated pixels scores up to ``k``.
    A constant map has no top pixels and scores 0. Only the order of the values matters, so
    the score is the same before and after any increasing transform (e.g. min-max
    normalisation). Labelling is NumPy only (:func:`count_components`), so the core package
    needs no SciPy; it agrees with ``scipy.ndimage.label`` with a 3x3 structure.

    Args:
        maps: ``(N, H, W)`` or ``(H, W)`` explanation maps (any real values).
        top_share: Share of the pixels that counts as the map's top, in (0, 1]; 0.1 = 10%.

    Returns:
        int64 ``(N,)``, each in [0, ceil(top_share * H * W)] unless ties add pixels.

    Example:
        >>> blob = np.zeros((20, 20)); blob[5:12, 5:12] = 1.0
        >>> connected_pieces(blob, top_share=0.1)
        array([1])
    """
    selected = top_pixels(maps, top_share)
    return np.array([count_components(one) for one in selected], np.int64)


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
