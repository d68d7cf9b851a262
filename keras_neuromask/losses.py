"""Pure TensorFlow loss terms of NeuroMask, one value per image.

Every term is a per-pixel mean, so its weight does not depend on the image size. Inputs:
``params`` are mask parameters ``(N, h, w, 1)``, ``mask`` is ``(N, h, w, 1)`` in ``[0, 1]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

SPARSITY_TERMS = ("parameter_l1", "mask_l1", "area")
SMOOTHNESS_TERMS = ("laplacian3", "laplacian5", "total_variation", "perimeter")


class LossTerms(NamedTuple):
    """The objective's parts, one value per image (``(N,)`` tensors)."""

    loss: tf.Tensor  # alpha preservation + delta deletion + beta sparsity + gamma smoothness
    preservation: tf.Tensor  # -log p(target | x'), x' the masked image; 0 when alpha = 0
    deletion: tf.Tensor  # -log(1 - p(target | x'')), x'' without the mask; 0 when delta = 0
    sparsity: tf.Tensor
    smoothness: tf.Tensor
    target_probability: tf.Tensor  # p(target | x'), or p(target | x'') when alpha = 0


def preservation(outputs: tf.Tensor, targets: tf.Tensor, *, from_logits: bool) -> tf.Tensor:
    """Cross-entropy of the target class: ``-log p_c(x')``.

    With logits ``z``: ``-log softmax(z)_c = logsumexp(z) - z_c``; with probabilities ``p``
    (a classifier that ends in a softmax): ``-log max(p_c, 1e-12)``, never a second softmax.

    Returns:
        ``(N,)`` losses.
    """
    if from_logits:
        log_probs = tf.nn.log_softmax(outputs, axis=-1)
    else:
        log_probs = tf.math.log(tf.maximum(outputs, 1e-12))
    return -tf.gather(log_probs, targets, axis=-1, batch_dims=1)


def deletion(outputs: tf.Tensor, targets: tf.Tensor, *, from_logits: bool) -> tf.Tensor:
    """The deletion game's loss: ``-log(1 - p_c(x''))``, small once the class is destroyed.

    ``1 - p_c`` is computed as the other classes' mass, which keeps its precision when
    ``p_c`` is near 1: with logits ``z``, ``logsumexp(z) - logsumexp_{j != c}(z_j)``; with
    probabilities, ``-log max(sum_{j != c} p_j, 1e-12)``.

    Returns:
        ``(N,)`` losses.
    """
    is_target = tf.one_hot(targets, tf.shape(outputs)[-1], on_value=True, off_value=False)
    if from_logits:
        others = tf.where(is_target, tf.constant(-np.inf, outputs.dtype), outputs)
        return tf.reduce_logsumexp(outputs, axis=-1) - tf.reduce_logsumexp(others, axis=-1)
    others = tf.reduce_sum(tf.where(is_target, tf.zeros_like(outputs), outputs), axis=-1)
    return -tf.math.log(tf.maximum(others, 1e-12))


def target_probability(outputs: tf.Tensor, targets: tf.Tensor, *, from_logits: bool):
    """Probability of the target class, ``softmax(z)_c`` or ``p_c``; ``(N,)``."""
    probs = tf.nn.softmax(outputs, axis=-1) if from_logits else outputs
    return tf.gather(probs, targets, axis=-1, batch_dims=1)


def parameter_l1(params: tf.Tensor, limit: float) -> tf.Tensor:
    """The paper's sparsity term, on the parameters: ``mean |w + limit|``.

    It is zero when every parameter sits at ``-limit`` (a fully hidden image).
    """
    return tf.reduce_mean(tf.abs(params + limit), axis=[1, 2, 3])


def mask_l1(mask: tf.Tensor) -> tf.Tensor:
    """Area of the mask: ``mean m`` (``m >= 0``), the share of the image kept."""
    return tf.reduce_mean(mask, axis=[1, 2, 3])


def area_gap(mask: tf.Tensor, area: float) -> tf.Tensor:
    """Extremal Perturbations' area constraint: ``mean((sort(m) - r_a)²)``.

    ``r_a`` is the sorted mask of exactly the share ``area`` of ones (``(1 - a) n`` zeros,
    then ``a n`` ones, ``n`` pixels), so the term is zero only for a binary mask that keeps
    that share of the image, wherever it lies (Fong, Patrick and Vedaldi, "Understanding Deep
    Networks via Extremal Perturbations and Smooth Masks", ICCV 2019).
    """
    flat = tf.reshape(mask, [tf.shape(mask)[0], -1])
    count = int(flat.shape[1])
    ones = min(count, max(0, int(round(area * count))))
    reference = tf.constant(np.r_[np.zeros(count - ones), np.ones(ones)], mask.dtype)
    return tf.reduce_mean(tf.square(tf.sort(flat, axis=1) - reference), axis=1)


def laplacian_kernel(size: int) -> np.ndarray:
    """The reference's Laplacian: ``size² - 1`` at the centre, ``-1`` elsewhere."""
    kernel = -np.ones((size, size), np.float32)
    kernel[size // 2, size // 2] = size * size - 1
    return kernel.reshape(size, size, 1, 1)


def laplacian_energy(values: tf.Tensor, size: int) -> tf.Tensor:
    """The paper's smoothness term: ``mean((L_k * w)²)`` over the VALID convolution.

    ``L_k`` is :func:`laplacian_kernel` (k = 3 in the CIFAR demo, 5 for ImageNet). Images
    smaller than the kernel give zero.
    """
    if values.shape[1] < size or values.shape[2] < size:
        return tf.zeros(tf.shape(values)[:1], values.dtype)
    response = tf.nn.conv2d(values, tf.constant(laplacian_kernel(size)), 1, "VALID")
    return tf.reduce_mean(tf.square(response), axis=[1, 2, 3])


def total_variation(mask: tf.Tensor) -> tf.Tensor:
    """Anisotropic total variation per pixel pair.

    ``mean |m[i+1, j] - m[i, j]| + mean |m[i, j+1] - m[i, j]|``; a side of length 1 adds 0.
    """
    rows = mask[:, 1:, :, :] - mask[:, :-1, :, :]
    cols = mask[:, :, 1:, :] - mask[:, :, :-1, :]
    total = tf.zeros(tf.shape(mask)[:1], mask.dtype)
    if mask.shape[1] > 1:
        total += tf.reduce_mean(tf.abs(rows), axis=[1, 2, 3])
    if mask.shape[2] > 1:
        total += tf.reduce_mean(tf.abs(cols), axis=[1, 2, 3])
    return total


def perimeter(mask: tf.Tensor) -> tf.Tensor:
    """Total variation of the mask with hidden (zero) cells all around it.

    ``total_variation(pad(m, 1, 0))``: for a binary mask, the length of the kept region's
    outline, counted where it meets the image's border too. Plain total variation lets a
    region along the border go without that side, so masks drift to the border.
    """
    return total_variation(tf.pad(mask, [[0, 0], [1, 1], [1, 1], [0, 0]]))


def sparsity(name: str, params: tf.Tensor, mask: tf.Tensor, limit: float,
             area: float | None = None) -> tf.Tensor:
    """Dispatches the sparsity term by name (``SPARSITY_TERMS``); ``"area"`` needs ``area``."""
    if name == "parameter_l1":
        return parameter_l1(params, limit)
    if name == "area":
        return area_gap(mask, area)
    return mask_l1(mask)


def smoothness(name: str, params: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Dispatches the smoothness term by name (``SMOOTHNESS_TERMS``).

    The Laplacian terms act on the parameters (as in the paper), total variation and the
    perimeter on the mask.
    """
    if name == "laplacian3":
        return laplacian_energy(params, 3)
    if name == "laplacian5":
        return laplacian_energy(params, 5)
    if name == "perimeter":
        return perimeter(mask)
    return total_variation(mask)
