"""PlateauStopping: the plateau rule on known loss sequences, and early stopping in NeuroMask."""

import json
import types

import numpy as np
import pytest
import tensorflow as tf
from conftest import oracle_classifier, oracle_images

from keras_neuromask import NeuroMask
from keras_neuromask.stopping import PlateauStopping, plateau_update


def stop_epoch(losses, steps_per_epoch=10, **options):
    """Drives the callback over ``losses`` as ``fit`` would; the epoch it stopped at, or None."""
    callback = PlateauStopping(**options)
    model = types.SimpleNamespace(stop_training=False)
    callback.set_model(model)
    callback.set_params({"epochs": len(losses), "steps": steps_per_epoch, "verbose": 0})
    callback.on_train_begin()
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"loss": loss})
        if model.stop_training:
            assert callback.stopped_epoch == epoch
            return epoch
    assert callback.stopped_epoch is None
    return None


PLATEAU = [1.0, 0.5, 0.3, 0.299, 0.2985, 0.298, 0.2975, 0.297, 0.2965, 0.296, 0.2955]


def test_a_plateauing_loss_stops_after_patience_flat_epochs():
    # Epochs 3 and 4 improve by < 1% of the previous loss: stop at the end of epoch 4.
    assert stop_epoch(PLATEAU, min_relative_improvement=0.01, patience=2) == 4
    assert stop_epoch(PLATEAU, min_relative_improvement=0.01, patience=1) == 3
    assert stop_epoch(PLATEAU, min_relative_improvement=0.01, patience=5) == 7


def test_a_loss_that_keeps_improving_never_stops_early():
    losses = (0.95 ** np.arange(40)).tolist()  # 5% better every epoch
    assert stop_epoch(losses, min_relative_improvement=0.01, patience=1) is None
    assert stop_epoch(losses, min_relative_improvement=0.06, patience=1) == 1


def test_patience_counts_flat_epochs_in_a_row_only():
    losses = [1.0, 0.999, 0.5, 0.4995, 0.25, 0.2499, 0.2498]
    assert stop_epoch(losses, min_relative_improvement=0.01, patience=2) == 6


def test_min_steps_defers_the_stop_to_the_first_epoch_that_reaches_it():
    assert stop_epoch(PLATEAU, steps_per_epoch=10, min_steps=80, patience=2) == 7  # 80 steps
    assert stop_epoch(PLATEAU, steps_per_epoch=10, min_steps=75, patience=2) == 7
    assert stop_epoch(PLATEAU, steps_per_epoch=10, min_steps=500, patience=2) is None


def test_the_boundary_counts_as_flat_and_uses_the_magnitude_of_negative_losses():
    assert stop_epoch([1.0, 0.5], min_relative_improvement=0.5, patience=1) == 1  # = r|L|
    assert stop_epoch([1.0, 0.49], min_relative_improvement=0.5, patience=1) is None
    assert stop_epoch([-1.0, -1.005], min_relative_improvement=0.01, patience=1) == 1
    assert stop_epoch([-1.0, -1.02], min_relative_improvement=0.01, patience=1) is None
    assert stop_epoch([0.2, 0.2], min_relative_improvement=0.0, patience=1) == 1


def test_nan_losses_are_never_flat():
    nan = float("nan")
    assert stop_epoch([1.0, nan, nan, nan], min_relative_improvement=0.5, patience=1) is None


def test_the_graph_rule_takes_the_callbacks_decisions():
    rng = np.random.default_rng(2)
    losses = np.float32(np.cumprod(1 - rng.uniform(0, 0.02, 30)))  # 0-2% better per epoch

    def first_stop(values, **options):
        values = tf.constant(values)

        def body(epoch, previous, wait, stop):  # as the exported loop, one epoch at a time
            wait, stop = plateau_update(previous, values[epoch], wait, (epoch + 1) * 10,
                                        **options)
            return epoch + 1, values[epoch], wait, stop

        run = tf.function(lambda: tf.while_loop(
            lambda epoch, previous, wait, stop: (epoch < values.shape[0]) & ~stop, body,
            (tf.constant(0), tf.constant(float("nan")), tf.constant(0), tf.constant(False))))
        epochs, _, _, stopped = run()
        return int(epochs) - 1 if bool(stopped) else None

    answers = []
    for rate, patience in ((0.002, 2), (0.005, 2), (0.008, 2), (0.008, 3)):
        options = dict(min_relative_improvement=rate, patience=patience, min_steps=40)
        answers.append(stop_epoch(losses.tolist(), steps_per_epoch=10, **options))
        assert first_stop(losses, **options) == answers[-1], options
    assert answers == [None, 7, 7, 8]


def test_explain_reports_the_steps_actually_run_and_they_match_a_fixed_run():
    images = oracle_images(3)
    explainer = NeuroMask(oracle_classifier(), steps=300, early_stopping=True)
    result = explainer.explain(images)
    stopped = explainer.early_stopping.stopped_epoch
    assert stopped is not None and explainer.steps_per_epoch == 25
    assert result.steps.tolist() == [(stopped + 1) * 25] * 3 and result.steps[0] < 300
    fixed = NeuroMask(oracle_classifier(), steps=int(result.steps[0])).explain(images)
    np.testing.assert_allclose(result.masks, fixed.masks, atol=1e-6)


def test_each_batch_and_each_call_starts_fresh():
    images = oracle_images(4)
    explainer = NeuroMask(oracle_classifier(), steps=300, early_stopping=True)
    first = explainer.explain(images, batch_size=2)
    assert (first.steps < 300).all()
    again = explainer.explain(images[2:])  # after a stopped fit: stop flag, mask, optimiser
    fresh = NeuroMask(oracle_classifier(), steps=300, early_stopping=True).explain(images[2:])
    np.testing.assert_array_equal(again.steps, fresh.steps)
    np.testing.assert_allclose(again.masks, fresh.masks, atol=1e-6)
    np.testing.assert_allclose(first.masks[2:], fresh.masks, atol=1e-6)


def test_min_steps_holds_in_explain():
    explainer = NeuroMask(oracle_classifier(), steps=300,
                          early_stopping={"min_steps": 200, "patience": 1})
    assert explainer.explain(oracle_images(2)).steps.tolist() == [200, 200]


def test_off_by_default_and_the_config_round_trips():
    assert NeuroMask(oracle_classifier()).early_stopping is None
    assert NeuroMask(oracle_classifier()).get_config()["early_stopping"] is False
    options = {"min_relative_improvement": 0.005, "patience": 3, "min_steps": 50}
    for given in (options, PlateauStopping(**options)):
        config = NeuroMask(oracle_classifier(), early_stopping=given).get_config()
        assert json.loads(json.dumps(config["early_stopping"])) == options
        clone = NeuroMask.from_config(config)
        assert isinstance(clone.early_stopping, PlateauStopping)
        assert clone.early_stopping.get_config() == options
    assert NeuroMask(oracle_classifier(), early_stopping=True).early_stopping.get_config() == {
        "min_relative_improvement": 0.01, "patience": 2, "min_steps": 0}
    assert PlateauStopping.from_config(PlateauStopping(**options).get_config()).get_config() \
        == options


@pytest.mark.parametrize("options", [
    dict(min_relative_improvement=-0.01), dict(min_relative_improvement=float("nan")),
    dict(min_relative_improvement="0.01"), dict(min_relative_improvement=True),
    dict(patience=0), dict(patience=1.5), dict(patience=True), dict(min_steps=-1),
])
def test_bad_arguments_are_rejected(options):
    with pytest.raises(ValueError, match="Expected"):
        PlateauStopping(**options)


def test_bad_early_stopping_options_are_rejected():
    with pytest.raises(TypeError, match="Expected early_stopping"):
        NeuroMask(oracle_classifier(), early_stopping="yes")
    with pytest.raises(TypeError, match="Received: \\['delta'\\]"):
        NeuroMask(oracle_classifier(), early_stopping={"delta": 0.1})
    with pytest.raises(ValueError, match="Expected patience"):
        NeuroMask(oracle_classifier(), early_stopping={"patience": 0})
    callback = PlateauStopping()
    callback.set_params({"epochs": 3, "steps": None})
    with pytest.raises(ValueError, match="steps_per_epoch"):
        callback.on_train_begin()
