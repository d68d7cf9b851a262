"""``PlateauStopping``: ends ``fit`` once the epoch's mean loss has stopped improving.

The rule is one pure TF function (:func:`plateau_update`), used both by the Keras callback
(in-process ``fit``/``explain``) and by the exported ``tf.while_loop``
(:mod:`keras_neuromask.serving.export`), so a served explanation stops at the same step.
"""

from __future__ import annotations

import math
import numbers

import keras
import tensorflow as tf

from keras_neuromask import inputs


def plateau_update(previous, current, wait, steps_done, *, min_relative_improvement: float,
                   patience: int, min_steps: int):
    """One epoch of the plateau rule: ``(wait, stop)`` after an epoch of mean loss ``current``.

    With ``L_prev`` the previous epoch's mean loss (NaN before the first epoch), ``L`` this
    epoch's and ``r = min_relative_improvement``::

        flat = L_prev - L <= r * |L_prev|          (false when L_prev or L is NaN)
        wait = wait + 1 if flat else 0
        stop = wait >= patience and steps_done >= min_steps

    Losses are compared in float64 (the callback's logs are Python floats), so the callback
    and the exported loop take the same decision on the same float32 loss.

    Args:
        previous, current: scalar losses (Python floats or tensors).
        wait: int32 count of consecutive flat epochs before this one.
        steps_done: int32 steps taken by the end of this epoch.
        min_relative_improvement, patience, min_steps: see :class:`PlateauStopping`.

    Returns:
        ``(wait, stop)``: an int32 and a bool scalar tensor.
    """
    previous = tf.cast(previous, tf.float64)
    current = tf.cast(current, tf.float64)
    flat = previous - current <= min_relative_improvement * tf.abs(previous)
    wait = tf.where(flat, tf.cast(wait, tf.int32) + 1, 0)
    stop = tf.logical_and(wait >= patience, tf.cast(steps_done, tf.int32) >= min_steps)
    return wait, stop


@keras.saving.register_keras_serializable(package="keras_neuromask")
class PlateauStopping(keras.callbacks.Callback):
    """Stops ``fit`` when the epoch's mean loss (``logs["loss"]``) has plateaued.

    After epoch ``e`` (``k`` steps each, so ``s_e = (e + 1) k`` steps done) with mean loss
    ``L_e``, epoch ``e >= 1`` is *flat* when it improved on the previous one by at most a
    fraction ``r`` of the previous loss's magnitude::

        L_{e-1} - L_e <= r * |L_{e-1}|

    and training stops at the end of epoch ``e`` when the last ``patience`` epochs were all
    flat and ``s_e >= min_steps`` (:func:`plateau_update`). The first epoch is never flat; a
    NaN loss is never flat. ``r`` is per epoch, so it depends on the epoch's length:
    :class:`keras_neuromask.NeuroMask` uses epochs of at most 25 steps when early stopping is
    on.

    Args:
        min_relative_improvement: ``r >= 0``: the smallest relative improvement per epoch
            that counts as progress.
        patience: flat epochs in a row (>= 1) before stopping.
        min_steps: never stop before this many steps (>= 0).

    Attributes:
        stopped_epoch: the 0-based epoch at whose end training stopped, or ``None``.

    Example:
        >>> explainer = NeuroMask(classifier, early_stopping=PlateauStopping(patience=3))
        >>> explainer.explain(images).steps   # steps actually taken per image
    """

    def __init__(self, min_relative_improvement: float = 0.01, patience: int = 2,
                 min_steps: int = 0):
        super().__init__()
        value = min_relative_improvement
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(value) or value < 0):
            raise ValueError("Expected min_relative_improvement to be a finite number >= 0. "
                             f"Received: {value!r}")
        self.min_relative_improvement = float(value)
        self.patience = inputs.check_int("patience", patience, minimum=1)
        self.min_steps = inputs.check_int("min_steps", min_steps, minimum=0)
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        steps = getattr(self.model, "steps_per_epoch", None)  # NeuroMask: steps per epoch
        steps = steps if steps is not None else (self.params or {}).get("steps")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError("Expected fit with a known number of steps per epoch "
                             f"(steps_per_epoch). Received: steps={steps!r}")
        self._steps_per_epoch = steps
        self._previous = float("nan")
        self._wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if not logs or "loss" not in logs:
            raise ValueError("Expected logs with a 'loss' entry. Received: "
                             f"{sorted(logs or {})}")
        current = float(logs["loss"])
        wait, stop = plateau_update(
            self._previous, current, self._wait, (epoch + 1) * self._steps_per_epoch,
            min_relative_improvement=self.min_relative_improvement, patience=self.patience,
            min_steps=self.min_steps)
        self._previous, self._wait = current, int(wait)
        if bool(stop):
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_config(self) -> dict:
        return {"min_relative_improvement": self.min_relative_improvement,
                "patience": self.patience, "min_steps": self.min_steps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"PlateauStopping({args})"


__all__ = ["PlateauStopping", "plateau_update"]
