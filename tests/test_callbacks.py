"""ExplainDuringTraining: masks of the classifier as it trains, without touching training."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import small_cnn

from keras_neuromask.callbacks import ExplainDuringTraining


def quadrant_data(count=64, seed=0):
    """16x16 noise with one bright 6x6 square; the class is its quadrant (0..3)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.3, (count, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 4, count)
    for image, label in zip(images, labels):
        row, col = 8 * (label // 2) + 1, 8 * (label % 2) + 1
        image[row:row + 6, col:col + 6] = 0.9
    return images, labels


def train(callbacks, epochs=3):
    keras.utils.set_random_seed(7)
    model = small_cnn(size=16, classes=4, seed=7)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    images, labels = quadrant_data()
    history = model.fit(images, labels, batch_size=16, epochs=epochs, shuffle=True,
                        callbacks=callbacks, verbose=0)
    return model, history


def test_training_is_bit_identical_with_and_without_the_callback(tmp_path):
    plain, plain_history = train([])
    images, labels = quadrant_data(4, seed=1)
    watch = ExplainDuringTraining((images, labels), out_dir=tmp_path, steps=10)
    watched, watched_history = train([watch])
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(plain.optimizer.variables, watched.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert plain_history.history == watched_history.history
    assert all(layer.trainable for layer in watched.layers)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]
    assert [e.epoch for e in watch.explanations] == [0, 1, 2]
    np.testing.assert_array_equal(watch.explanations[0].targets, labels)


def test_one_explainer_and_one_trace_serve_every_logging_epoch(tmp_path):
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if watch.explanations:  # from the first logging epoch on
                seen.append((id(watch.explainer), id(watch.explainer.train_function)))

    watch = ExplainDuringTraining(quadrant_data(4, seed=1)[0], out_dir=tmp_path, steps=10,
                                  every=2)
    train([watch, Spy()], epochs=4)
    assert len(seen) == 3 and len(set(seen)) == 1 and len(watch.explanations) == 2
    assert [e.epoch for e in watch.explanations] == [1, 3]


def test_tensorboard_gets_one_grid_and_the_scalars_per_logging_step(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    images, labels = quadrant_data(3, seed=2)
    region = np.zeros((16, 16), np.float32)
    region[:8, :8] = 1.0
    watch = ExplainDuringTraining((images, keras.utils.to_categorical(labels, 4)),
                                  log_dir=tmp_path, region=region, steps=10)
    train([watch, keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))], epochs=2)
    events = EventAccumulator(str(tmp_path / "neuromask"), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"neuromask/masks", "neuromask/mask_area", "neuromask/kept_probability",
            "neuromask/region_share"} <= tags
    grids = events.Tensors("neuromask/masks")
    assert [g.step for g in grids] == [0, 1]
    width, height = (int(v) for v in grids[0].tensor_proto.string_val[:2])
    assert (width, height) == (3 * 96, 3 * 96)  # columns image, mask, overlay; 3 rows
    area = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("neuromask/mask_area")]
    np.testing.assert_allclose(area, [e.scalars["mask_area"] for e in watch.explanations],
                               rtol=1e-6)
    assert (tmp_path / "log.csv").read_text().count("\n") == 3  # header + 2 epochs


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "Expected log_dir"),
    (dict(out_dir="x", every=0), "Expected every"),
    (dict(out_dir="x", region=np.ones((3, 3))), "Expected region of shape"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExplainDuringTraining(quadrant_data(2)[0], **kwargs)


def test_labels_must_match_the_images():
    images, labels = quadrant_data(3)
    with pytest.raises(ValueError, match="Expected one label per validation image"):
        ExplainDuringTraining((images, labels[:2]), out_dir="x")
