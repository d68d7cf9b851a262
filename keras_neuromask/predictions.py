"""A classifier's outputs, read the same way everywhere: chunked prediction, softmax detection.

The explainer, the method comparison and the fidelity metrics all call these, so "is this
output a softmax?" has one answer in the whole package.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

PROBABILITY_ATOL = 1e-3  # rows summing to 1 within this are read as probabilities


def predict_in_chunks(predict: Callable, batch: np.ndarray, chunk: int) -> np.ndarray:
    """``predict`` on ``batch`` ``chunk`` images at a time, as one numpy array.

    ``predict`` maps an ``(n, ...)`` array to ``(n, classes)`` (numpy or tensor).
    """
    parts = [keras.ops.convert_to_numpy(predict(batch[i:i + chunk]))
             for i in range(0, len(batch), chunk)]
    return np.concatenate(parts)


def looks_like_probabilities(outputs: np.ndarray, model=None) -> bool:
    """Whether ``outputs`` are softmax probabilities rather than logits.

    True when ``model``'s last layer is a softmax, or when every row is >= 0 and sums to 1
    within :data:`PROBABILITY_ATOL`.
    """
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or activation is keras.activations.softmax:
        return True
    return bool(np.all(outputs >= 0)
                and np.allclose(outputs.sum(-1), 1.0, atol=PROBABILITY_ATOL))


def as_probabilities(scores: np.ndarray, from_logits: bool) -> np.ndarray:
    """``softmax(scores)`` along the last axis when they are logits, else the scores."""
    if not from_logits:
        return scores
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


__all__ = ["PROBABILITY_ATOL", "predict_in_chunks", "looks_like_probabilities",
           "as_probabilities"]
