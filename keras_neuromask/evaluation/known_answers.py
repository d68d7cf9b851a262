"""Classifiers whose answer is known by construction, and images for them.

The first test an expert runs on an explainer: a model that looks only where we told it to.
Every model here sees the image through a 1x1 identity convolution (``"pixels"``, so CAM
methods have a feature map), then decides from patch means of colour:

=================  ========================================================  ==============
kind               logits ``z_c`` (``s`` = ``scale``, ``m_c(P)`` = mean of    truth
                   channel ``c`` over patch ``P``)
=================  ========================================================  ==============
``one_patch``      ``s * m_c(P1)``                                            ``P1``
``two_patches_and`` ``s * min(m_c(P1), m_c(P2))``: the class needs both       ``P1`` and ``P2``
``two_patches_or`` ``s * max(m_c(P1), m_c(P2))``: either patch suffices       ``P1`` or ``P2``
``colour``         ``s * m_c(whole image)``: the global mean colour            none (see below)
=================  ========================================================  ==============

Patches sit at the same place relative to the image at every size: ``P1`` rows
``[H/4, H/2)``, cols ``[W/2, 3W/4)`` (a quarter of the side, 8x8 at 32 px, 56x56 at 224 px),
``P2`` rows ``[5H/8, 7H/8)``, cols ``[W/8, 3W/8)``. Images are uniform noise in [0.2, 0.8];
the patch(es) of an image of class ``k`` are a solid colour bright in channel ``k``
(0.9 there, 0.3 elsewhere); a colour-model image is the noise tinted towards channel ``k``.

The colour model has no region to find: a blurred or mean-colour baseline keeps its class by
construction, and the honest result says so (``Explanation.baseline_probability``).
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np

KINDS = ("one_patch", "two_patches_and", "two_patches_or", "colour")
CLASSES = 3  # one per colour channel


class KnownAnswerSet(NamedTuple):
    """Images for a known-answer model and where the answer lies."""

    images: np.ndarray  # float32 (N, size, size, 3) in [0, 1]
    targets: np.ndarray  # int64 (N,), the class each image was made for (the model's answer)
    truth: np.ndarray  # bool (N, size, size): the patch(es) the model reads; all False: none


def patch_slices(size: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """``(P1, P2)``, each ``(rows, cols)`` slices of a ``size`` x ``size`` image."""
    q = size // 8
    return (slice(2 * q, 4 * q), slice(4 * q, 6 * q)), (slice(5 * q, 7 * q), slice(q, 3 * q))


def _check(kind: str, size: int) -> None:
    if kind not in KINDS:
        raise ValueError(f"Expected kind in {KINDS}. Received: {kind!r}")
    if not isinstance(size, (int, np.integer)) or size < 16 or size % 8:
        raise ValueError(f"Expected size as a multiple of 8, >= 16. Received: {size!r}")


def known_answer_model(kind: str, size: int = 32, scale: float | None = None) -> keras.Model:
    """The classifier ``kind`` (module docstring) for ``size`` x ``size`` RGB images; logits.

    ``scale`` defaults to 8 (16 for ``colour``): p(class) about 0.98 on the images of
    :func:`known_answer_images`. Built-in layers only (it saves and loads as a ``.keras``
    file with ``safe_mode``).
    """
    _check(kind, size)
    scale = (16.0 if kind == "colour" else 8.0) if scale is None else scale
    image = keras.Input((size, size, 3), name="image")
    pixels = keras.layers.Conv2D(3, 1, use_bias=False, name="pixels")
    features = pixels(image)
    readout = keras.layers.Dense(CLASSES, use_bias=False, name="logits")

    def patch_mean(patch, name):
        rows, cols = patch
        crop = keras.layers.Cropping2D(((rows.start, size - rows.stop),
                                        (cols.start, size - cols.stop)), name=f"crop_{name}")
        return keras.layers.GlobalAveragePooling2D(name=f"mean_{name}")(crop(features))

    first, second = patch_slices(size)
    if kind == "one_patch":
        means = patch_mean(first, "p1")
    elif kind == "colour":
        means = keras.layers.GlobalAveragePooling2D(name="mean_image")(features)
    else:
        pair = [patch_mean(first, "p1"), patch_mean(second, "p2")]
        combine = keras.layers.Minimum if kind == "two_patches_and" else keras.layers.Maximum
        means = combine(name="combine")(pair)
    model = keras.Model(image, readout(means), name=kind)
    pixels.set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    readout.set_weights([np.eye(CLASSES, dtype=np.float32) * np.float32(scale)])
    return model


def known_answer_images(kind: str, count: int, size: int = 32, seed: int = 0) -> KnownAnswerSet:
    """``count`` images for the model ``kind``; image ``i`` is made for class ``i % 3``."""
    _check(kind, size)
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 0.8, (count, size, size, 3)).astype(np.float32)
    targets = np.arange(count, dtype=np.int64) % CLASSES
    truth = np.zeros((count, size, size), bool)
    first, second = patch_slices(size)
    patches = {"one_patch": [first], "colour": []}.get(kind, [first, second])
    for i, k in enumerate(targets):
        colour = np.full(3, 0.3, np.float32)
        colour[k] = 0.9
        for rows, cols in patches:
            images[i, rows, cols] = colour
            truth[i, rows, cols] = True
        if kind == "colour":
            images[i, ..., k] = np.clip(images[i, ..., k] + 0.25, 0.0, 1.0)
    return KnownAnswerSet(images, targets, truth)


def truth_share(maps, truth) -> np.ndarray:
    """The share of each map's mass on the truth, ``sum(m * t) / sum(m)`` (``(N,)``; NaN for
    an empty map or an image without truth)."""
    maps = np.clip(np.asarray(maps, np.float64), 0.0, None)
    truth = np.asarray(truth, bool)
    total = maps.sum(axis=(1, 2))
    on = (maps * truth).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = on / total
    return np.where((total > 0) & truth.any(axis=(1, 2)), share, np.nan)


def both_kept(masks, truth_patches, threshold: float = 0.5) -> np.ndarray:
    """Whether every patch of ``truth_patches`` (a list of ``(rows, cols)``) has a mean mask
    of at least ``threshold``, per image (``(N,)`` bool): the AND model's test."""
    masks = np.asarray(masks)
    kept = [masks[:, rows, cols].mean(axis=(1, 2)) >= threshold for rows, cols in truth_patches]
    return np.logical_and.reduce(kept)


__all__ = ["KINDS", "KnownAnswerSet", "known_answer_model", "known_answer_images",
           "patch_slices", "truth_share", "both_kept"]
