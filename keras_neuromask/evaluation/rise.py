"""RISE: saliency from the class score of randomly masked copies of the image (numpy maths).

For ``N`` random masks ``M_i`` (values in [0, 1], mean ``p``) and a class score ``f_c``::

    S_c(x) = 1 / (N * p) * sum_i f_c(I * M_i) * M_i(x)

so a pixel's saliency is the expected score of the masked images that keep it. Each mask is a
random binary ``s x s`` grid (a cell kept with probability ``p``), upsampled bilinearly to
``(s + 1) * cell`` pixels (``cell = ceil(H / s)``) and cropped at a random shift in
``[0, cell)``, so its edges are smooth and fall anywhere.

References:
    Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
    Models". BMVC 2018, arXiv:1806.07421.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf


class MaskPlan(NamedTuple):
    """The random draws behind a set of RISE masks (small; masks are made from it in batches)."""

    grids: np.ndarray  # float32 (N, s, s), 1 where a cell is kept
    shifts: np.ndarray  # int64 (N, 2), the crop's (row, col) offset in [0, cell)
    image_size: tuple[int, int]  # (H, W) of the masks
    cell: tuple[int, int]  # (ceil(H / s), ceil(W / s)) pixels per grid cell


def plan_masks(num_masks: int, image_size: tuple[int, int], *, grid_size: int = 8,
               p1: float = 0.5, seed: int = 0) -> MaskPlan:
    """Draws the grids and shifts of ``num_masks`` RISE masks, reproducibly from ``seed``.

    Args:
        num_masks: how many masks ``N >= 1``.
        image_size: ``(H, W)`` of the images the masks cover.
        grid_size: cells per side ``s`` of the random grid (RISE uses 7 or 8).
        p1: probability ``p`` that a cell is kept, in (0, 1].
        seed: seed of the draws.

    Returns:
        A :class:`MaskPlan`; :func:`masks_from_plan` turns any slice of it into masks.
    """
    for name, value in (("num_masks", num_masks), ("grid_size", grid_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Expected {name} as an int >= 1. Received: {value!r}")
    if not 0.0 < float(p1) <= 1.0:
        raise ValueError(f"Expected p1 in (0, 1]. Received: {p1!r}")
    height, width = (int(v) for v in image_size)
    cell = (-(-height // grid_size), -(-width // grid_size))
    rng = np.random.default_rng(seed)
    grids = (rng.random((num_masks, grid_size, grid_size)) < p1).astype(np.float32)
    shifts = np.stack([rng.integers(0, cell[0], num_masks),
                       rng.integers(0, cell[1], num_masks)], axis=1).astype(np.int64)
    return MaskPlan(grids, shifts, (height, width), cell)


def masks_from_plan(plan: MaskPlan, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Masks ``start:stop`` of ``plan`` as float32 ``(n, H, W)`` in [0, 1].

    ``M_i = crop(bilinear_upsample(grid_i, (s + 1) * cell), shift_i, (H, W))``.
    """
    grids = plan.grids[start:stop]
    shifts = plan.shifts[start:stop]
    size = (plan.grids.shape[1] + 1) * plan.cell[0], (plan.grids.shape[2] + 1) * plan.cell[1]
    # As the reference code: the s x s grid is stretched over (s + 1) cells, then cropped.
    up = tf.image.resize(grids[..., None], size, method="bilinear").numpy()[..., 0]
    height, width = plan.image_size
    masks = np.empty((len(grids), height, width), np.float32)
    for i, (row, col) in enumerate(shifts):
        masks[i] = up[i, row:row + height, col:col + width]
    return np.clip(masks, 0.0, 1.0)


def rise_saliency(probability_fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                  targets: np.ndarray, *, num_masks: int = 4000, grid_size: int = 8,
                  p1: float = 0.5, batch_size: int = 100, seed: int = 0) -> np.ndarray:
    """RISE saliency ``S_c = sum_i f_c(I * M_i) M_i / (N * p1)`` for each image's target.

    The same masks serve every image (drawn once from ``seed``); they are made and scored
    ``batch_size`` at a time, so memory stays at one batch of masks.

    Args:
        probability_fn: ``(B, H, W, C) -> (B, classes)`` class probabilities (the score
            ``f_c``), e.g. the softmax of a classifier.
        images: float32 ``(N, H, W, C)``; masked as ``I * M`` (zero where a mask is 0).
        targets: int ``(N,)``, the class explained for each image.
        num_masks: masks ``N`` (4000 in the paper).
        grid_size: cells ``s`` per side of the random grid.
        p1: probability of keeping a cell; also the normaliser ``E[M]``.
        batch_size: masked images per call of ``probability_fn``.
        seed: seed of the masks.

    Returns:
        float64 ``(N, H, W)`` saliency, not normalised (the expected probability of the
        class given that the pixel is kept).
    """
    images = np.asarray(images, np.float32)
    targets = np.asarray(targets, np.int64)
    if images.ndim != 4 or targets.shape != (len(images),):
        raise ValueError("Expected images (N, H, W, C) and one target per image. Received: "
                         f"images {images.shape}, targets {targets.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"Expected batch_size as an int >= 1. Received: {batch_size!r}")
    plan = plan_masks(num_masks, images.shape[1:3], grid_size=grid_size, p1=p1, seed=seed)
    saliency = np.zeros(images.shape[:3], np.float64)
    for start in range(0, num_masks, batch_size):
        masks = masks_from_plan(plan, start, start + batch_size)
        flat = masks.reshape(len(masks), -1).astype(np.float64)
        for n, image in enumerate(images):
            probabilities = np.asarray(probability_fn(image[None] * masks[..., None]))
            scores = probabilities[:, targets[n]].astype(np.float64)
            saliency[n] += (scores @ flat).reshape(images.shape[1:3])
    return saliency / (num_masks * float(p1))


__all__ = ["MaskPlan", "plan_masks", "masks_from_plan", "rise_saliency"]
