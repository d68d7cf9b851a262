"""Validation of what users pass in: images, targets and classifiers.

Every check raises ``ValueError`` or ``TypeError`` with "Expected ... Received: ..." and
never modifies its argument (images are copied into a new float32 array).
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
import tensorflow as tf


def as_image_batch(images) -> tuple[np.ndarray, bool]:
    """Returns ``(batch, single)``: float32 ``(N, H, W, C)`` and whether one image was given.

    Accepts numpy arrays, tensors and nested lists, float or integer (uint8 values are cast,
    not rescaled: the classifier sees the same numbers it would see without NeuroMask).
    """
    array = _as_array(images, "images")
    if array.dtype == object or np.issubdtype(array.dtype, np.complexfloating) or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"Expected images as a real numeric array. Received: dtype "
                        f"{array.dtype}")
    if array.ndim not in (3, 4):
        raise ValueError("Expected one image (H, W, C) or a batch (N, H, W, C). "
                         f"Received: an array of shape {array.shape}")
    single = array.ndim == 3
    array = array[None] if single else array
    if array.shape[0] == 0:
        raise ValueError(f"Expected at least one image. Received: shape {array.shape}")
    if min(array.shape[1:3]) < 1 or array.shape[3] < 1:
        raise ValueError(f"Expected images with non-empty height, width and channels. "
                         f"Received: shape {array.shape}")
    _check_finite(array)
    return np.array(array, dtype=np.float32, copy=True), single


def _as_array(values, name: str) -> np.ndarray:
    """``values`` as a numpy array (tensors read back); ragged nested lists refused."""
    if isinstance(values, (tf.Tensor, tf.Variable)):
        values = values.numpy()
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise ValueError(f"Expected {name} as an array of one shape. Received: "
                         f"{type(values).__name__} that numpy cannot stack ({error})"
                         ) from None


def _check_finite(array: np.ndarray) -> None:
    """Refuses NaN and Inf pixels, and values float32 cannot hold (they would become Inf)."""
    if not np.issubdtype(array.dtype, np.floating):
        return  # integers and bools are finite and fit float32 (rounded)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(array) | (np.abs(array) > np.finfo(np.float32).max)
    if np.any(bad):
        images = np.flatnonzero(bad.any(axis=(1, 2, 3))).tolist()
        raise ValueError(f"Expected finite pixel values within the float32 range. Received: "
                         f"NaN, Inf or |value| > 3.4e38 in image(s) {images[:10]}")


def as_targets(targets, count: int, num_classes: int | None) -> np.ndarray | None:
    """Returns ``None`` or int64 ``(count,)`` classes, checked against ``num_classes``.

    Integral floats (``1.0``) are accepted as ints; the range is checked before the cast, so
    huge values are reported as they were given, never wrapped around.
    """
    if targets is None:
        return None
    array = _as_array(targets, "targets")
    hidden_bool = isinstance(targets, (list, tuple)) and any(
        isinstance(t, (bool, np.bool_)) for t in targets)  # numpy would make [True, 1] ints
    if hidden_bool or array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        with np.errstate(invalid="ignore"):
            whole = np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0)
        if not whole:
            raise TypeError(f"Expected targets as int class indices. Received: {targets!r}"
                            if array.size < 20 else
                            f"Expected targets as int class indices. Received: {array.dtype}")
    if array.ndim == 0:
        array = np.full((count,), array[()], array.dtype)
    if array.shape != (count,):
        raise ValueError(f"Expected one target per image ({count}) or a single int. "
                         f"Received: targets of shape {array.shape}")
    limit = np.iinfo(np.int64).max if num_classes is None else num_classes
    bad = (array < 0) | (array >= limit)
    if np.any(bad):
        raise ValueError(f"Expected targets in [0, {num_classes}). Received: "
                         f"{array[bad][:10].tolist()}")
    return array.astype(np.int64)


def check_classifier(classifier) -> None:
    """Checks the classifier is a Keras model with one input and one (N, classes) output."""
    if not isinstance(classifier, keras.Model):
        raise TypeError(f"Expected a keras.Model classifier. Received: {type(classifier)}")
    inputs = getattr(classifier, "inputs", None)
    outputs = getattr(classifier, "outputs", None)
    if inputs is not None and len(inputs) != 1:
        raise ValueError(f"Expected a classifier with one input. Received: {len(inputs)} "
                         "inputs")
    if outputs is not None:
        if len(outputs) != 1:
            raise ValueError(f"Expected a classifier with one output. Received: "
                             f"{len(outputs)} outputs")
        if len(outputs[0].shape) != 2:
            raise ValueError("Expected a classifier output of shape (N, classes). "
                             f"Received: {tuple(outputs[0].shape)}")


def check_outputs(outputs) -> tf.Tensor:
    """Checks one output of shape (N, classes), at run time (for subclassed models)."""
    if isinstance(outputs, (list, tuple, dict)):
        raise ValueError(f"Expected a classifier with one output. Received: "
                         f"{type(outputs).__name__} of {len(outputs)} outputs")
    if len(outputs.shape) != 2:
        raise ValueError("Expected a classifier output of shape (N, classes). Received: "
                         f"{tuple(outputs.shape)}")
    return outputs


def check_image_shape(batch: np.ndarray, classifier, has_preprocess: bool) -> None:
    """Checks the images fit the classifier's input (size and channels), where it is known."""
    inputs = getattr(classifier, "inputs", None)
    if not inputs or has_preprocess:
        return
    expected = tuple(inputs[0].shape[1:])
    received = batch.shape[1:]
    if len(expected) != 3 or any(e is not None and e != r for e, r in zip(expected, received)):
        raise ValueError(f"Expected images of shape (N, {', '.join(map(str, expected))}) for "
                         f"this classifier. Received: {batch.shape}")


def as_unit_map(values, what: str = "mask") -> np.ndarray:
    """A float32 ``(H, W)`` copy of a map with finite values in [0, 1] (``(H, W, 1)`` too)."""
    values = np.asarray(values)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 2 or values.size == 0 or not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"Expected a numeric {what} of shape (H, W). Received: shape "
                         f"{values.shape}, dtype {values.dtype}")
    values = values.astype(np.float32)
    if not np.all(np.isfinite(values)) or values.min() < 0.0 or values.max() > 1.0:
        raise ValueError(f"Expected {what} values finite and in [0, 1]. Received: min "
                         f"{np.nanmin(values)}, max {np.nanmax(values)}, "
                         f"{int(np.sum(~np.isfinite(values)))} non-finite")
    return values


def check_int(name: str, value, *, minimum: int) -> int:
    """``value`` as an int, or ValueError "Expected ... Received" (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Expected {name} to be an int >= {minimum}. Received: {value!r}")
    return int(value)
