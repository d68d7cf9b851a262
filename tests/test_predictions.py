"""One reading of a classifier's outputs: chunked prediction and softmax detection."""

import keras
import numpy as np

from keras_neuromask.predictions import (
    as_probabilities,
    looks_like_probabilities,
    predict_in_chunks,
)


def test_predict_in_chunks_calls_in_chunks_and_keeps_the_order():
    sizes = []

    def predict(part):
        sizes.append(len(part))
        return part.sum(axis=1, keepdims=True)

    batch = np.arange(14, dtype=np.float32).reshape(7, 2)
    np.testing.assert_array_equal(predict_in_chunks(predict, batch, 3), batch.sum(1)[:, None])
    assert sizes == [3, 3, 1]


def test_softmax_rows_or_a_softmax_layer_read_as_probabilities():
    assert looks_like_probabilities(np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert not looks_like_probabilities(np.array([[2.0, -1.0]]))
    assert not looks_like_probabilities(np.array([[0.2, 0.7]]))  # sums to 0.9
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    assert looks_like_probabilities(np.array([[5.0, 5.0]]), model)


def test_as_probabilities_is_the_softmax_of_logits_and_keeps_probabilities():
    logits = np.array([[0.0, np.log(3.0)]])
    np.testing.assert_allclose(as_probabilities(logits, True), [[0.25, 0.75]])
    np.testing.assert_array_equal(as_probabilities(logits, False), logits)
