"""Validation of what users pass in: images, targets and classifiers.

Every check raises ``ValueError`` or ``TypeError`` with "Expected ... Received: ..." and
never modifies its argument (images are copied into a new float32 array).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def as_image_batch(images) -> tuple[np.ndarray, bool]:
    """Returns ``(batch, single)``: float32 ``(N, H, W, C)`` and whether one image was given.

    Accepts numpy arrays, tensors and nested lists, float or integer (uint8 values are cast,
    not rescaled: the classifier sees the same numbers it would see without NeuroMask).
    """
    if isinstance(images, (tf.Tensor, tf.Variable)):
        images = images.numpy()
    array = np.asarray(images)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise TypeError(f"Expected images as a numeric array. Received: dtype {array.dtype}")
    if array.ndim not in (3, 4):
        raise ValueError("Expected one image (H, W, C) or a batch (N, H, W, C). "
                         f"Received: an array of shape {array.shape}")
    single = array.ndim == 3
    batch = np.array(array[None] if single else array, dtype=np.float32, copy=True)
    if batch.shape[0] == 0:
        raise ValueError(f"Expected at least one image. Received: shape {array.shape}")
    if min(batch.shape[1:3]) < 1 or batch.shape[3] < 1:
        raise ValueError(f"Expected images with non-empty height, width and channels. "
                         f"Received: shape {array.shape}")
    if not np.all(np.isfinite(batch)):
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(batch))[:, 0]})
        raise ValueError(f"Expected finite pixel values. Received: NaN or Inf in image(s) "
                         f"{bad[:10]}")
    return batch, single


def as_targets(targets, count: int, num_classes: int | None) -> np.ndarray | None:
    """Returns ``None`` or int64 ``(count,)`` classes, checked against ``num_classes``."""
    if targets is None:
        return None
    if isinstance(targets, (tf.Tensor, tf.Variable)):
        targets = targets.numpy()
    array = np.asarray(targets)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        if not (np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0)):
            raise TypeError(f"Expected targets as int class indices. Received: {targets!r}"
                            if array.size < 20 else
                            f"Expected targets as int class indices. Received: {array.dtype}")
    array = array.astype(np.int64)
    if array.ndim == 0:
        array = np.full((count,), int(array), np.int64)
    if array.shape != (count,):
        raise ValueError(f"Expected one target per image ({count}) or a single int. "
                         f"Received: targets of shape {array.shape}")
    if np.any(array < 0) or (num_classes is not None and np.any(array >= num_classes)):
        raise ValueError(f"Expected targets in [0, {num_classes}). Received: "
                         f"{array[(array < 0) | (array >= (num_classes or np.inf))][:10]}")
    return array


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
