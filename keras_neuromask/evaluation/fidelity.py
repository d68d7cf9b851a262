"""Deletion and insertion AUC (the causal metrics of RISE, Petsiuk et al. 2018).

Both perturb each image along the order its map gives (most important pixel first) and record
the classifier's probability for the target class after every ``1 / (steps - 1)`` of the
pixels:

- deletion: pixels are set to 0, starting from the image; a good map makes the probability
  drop fast, so LOWER is better;
- insertion: original pixels are put back into a blurred copy of the image; a good map makes
  the probability rise fast, so HIGHER is better.

The AUC is the trapezoid area under the curve over x in [0, 1] (the share of pixels changed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np

from keras_neuromask import inputs, masking
from keras_neuromask.evaluation.metrics import as_maps
from keras_neuromask.predictions import (
    as_probabilities,
    looks_like_probabilities,
    predict_in_chunks,
)


class FidelityResult(NamedTuple):
    """What `deletion_auc` and `insertion_auc` return."""

    auc: np.ndarray  # float64 (N,), trapezoid area under each curve, x in [0, 1]
    curves: np.ndarray  # float64 (N, steps), p(target) after changing `fractions` of pixels
    fractions: np.ndarray  # float64 (steps,), linspace(0, 1, steps)
    targets: np.ndarray  # int64 (N,), the classes scored


def gaussian_blur(images, sigma: float = 5.0, radius: int = 5) -> np.ndarray:
    """The insertion metric's blur: :func:`keras_neuromask.masking.gaussian_blur` with
    normalised borders, ``out = (k * x) / (k * 1)`` (RISE's 11-tap, sigma-5 kernel by
    default; RISE pads with zeros instead, which darkens the border)."""
    return masking.gaussian_blur(np.asarray(images, np.float32), sigma, radius=radius,
                                 borders="normalize").numpy()


def _predict(model, batch: np.ndarray, preprocess) -> np.ndarray:
    if preprocess is not None:
        batch = preprocess(batch)
    if isinstance(model, keras.Layer):
        outputs = model(batch, training=False)
    else:
        outputs = model(batch)
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float64)
    if outputs.ndim != 2 or outputs.shape[0] != len(batch):
        raise ValueError(
            f"Expected model outputs of shape ({len(batch)}, classes). Received: {outputs.shape}"
        )
    return outputs


def _causal_curves(model, images, maps, targets, start, finish, steps, batch_size, preprocess):
    """Probability of the target while pixels go from ``start`` to ``finish``, best first."""
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"Expected an int steps >= 2. Received: steps={steps!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"Expected a positive int batch_size. Received: {batch_size!r}")
    n, h, w, _ = images.shape
    if maps.shape != (n, h, w):
        raise ValueError(
            f"Expected maps of shape {(n, h, w)} for images of shape {images.shape}. "
            f"Received: {maps.shape}"
        )
    original = predict_in_chunks(lambda part: _predict(model, part, preprocess), images,
                                 batch_size)
    probabilities = looks_like_probabilities(original)
    if targets is None:
        targets = np.argmax(original, axis=1).astype(np.int64)
    else:
        targets = inputs.as_targets(targets, n, original.shape[1])

    # rank[i, p] = position of pixel p in image i's order (ties: raster order first).
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(h * w)[None, :], axis=1)
    fractions = np.linspace(0.0, 1.0, steps)
    counts = np.rint(fractions * h * w).astype(np.int64)

    scores = np.empty(n * steps)
    for low in range(0, n * steps, batch_size):
        rows = np.arange(low, min(low + batch_size, n * steps))
        image, step = np.divmod(rows, steps)
        changed = (rank[image] < counts[step][:, None]).reshape(-1, h, w, 1)
        batch = np.where(changed, finish[image], start[image]).astype(np.float32)
        outputs = _predict(model, batch, preprocess)
        outputs = as_probabilities(outputs, from_logits=not probabilities)
        scores[rows] = outputs[np.arange(len(rows)), targets[image]]
    curves = scores.reshape(n, steps)
    auc = (curves[:, 1:] + curves[:, :-1]).sum(axis=1) / (2.0 * (steps - 1))  # trapezoid
    return FidelityResult(auc, curves, fractions, targets)


def deletion_auc(
    model: Callable,
    images,
    maps,
    targets=None,
    *,
    steps: int = 33,
    batch_size: int = 64,
    preprocess: Callable | None = None,
) -> FidelityResult:
    """Deletion AUC: zero pixels most-important first; the lower, the better the map.

    ``curve[k] = p_target(preprocess(x with its top round(f_k HW) pixels set to 0))`` for
    ``f_k = k / (steps - 1)``, where p is the softmax of the model's logits (or the model's
    output itself when it already gives probabilities: rows non-negative summing to 1), and
    ``auc = trapezoid(curve, f)``. Pixels are ordered by decreasing map value, ties in raster
    order; all channels of a pixel change together. Costs ``N * steps`` forward passes.

    Args:
        model: A ``keras.Model`` (called with ``training=False``) or any callable mapping a
            float32 ``(B, H, W, C)`` batch to ``(B, classes)`` logits or probabilities.
        images: ``(N, H, W, C)`` or ``(H, W, C)``, in the space the map refers to (before
            ``preprocess``).
        maps: ``(N, H, W)`` or ``(H, W)`` importance maps (higher = more important).
        targets: Classes to score (int or one per image); None = the model's predictions.
        steps: Points on each curve (>= 2), at ``linspace(0, 1, steps)`` of the pixels.
        batch_size: Perturbed images per model call.
        preprocess: Optional callable applied to every batch before the model.

    Returns:
        A `FidelityResult` (``auc`` (N,), ``curves`` (N, steps), ``fractions``, ``targets``).

    References:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models". BMVC 2018.
    """
    images, _ = inputs.as_image_batch(images)
    maps = as_maps(maps)
    return _causal_curves(
        model, images, maps, targets, images, np.zeros_like(images), steps, batch_size,
        preprocess,
    )


def insertion_auc(
    model: Callable,
    images,
    maps,
    targets=None,
    *,
    steps: int = 33,
    batch_size: int = 64,
    preprocess: Callable | None = None,
    blur_sigma: float = 5.0,
    blur_radius: int = 5,
) -> FidelityResult:
    """Insertion AUC: restore pixels into a blurred copy, most-important first; higher = better.

    ``curve[k] = p_target(preprocess(blur(x) with its top round(f_k HW) pixels taken from
    x))``, with the blur of `gaussian_blur` (RISE's 11-tap, sigma-5 kernel by default) and
    everything else as in `deletion_auc`.

    Args:
        model: As in `deletion_auc`.
        images: As in `deletion_auc`.
        maps: As in `deletion_auc`.
        targets: As in `deletion_auc`.
        steps: As in `deletion_auc`.
        batch_size: As in `deletion_auc`.
        preprocess: As in `deletion_auc`.
        blur_sigma: Standard deviation of the Gaussian blur, in pixels.
        blur_radius: Half-width of the blur kernel, in pixels.

    Returns:
        A `FidelityResult`.

    References:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models". BMVC 2018.
    """
    images, _ = inputs.as_image_batch(images)
    maps = as_maps(maps)
    blurred = gaussian_blur(images, blur_sigma, blur_radius)
    return _causal_curves(
        model, images, maps, targets, blurred, images, steps, batch_size, preprocess
    )
