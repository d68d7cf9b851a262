"""Update rules for the mask parameters, shared by Keras ``fit`` and the exported graph.

Each rule is a pure function ``(params, grads, slots, step, lr) -> (params, slots)``, run
inside the ``tf.while_loop`` of :func:`keras_neuromask.optimisation.run_steps` by ``fit``,
the SavedModel (where nothing may be a variable) and several devices alike.
:class:`MaskOptimizer` keeps ``fit``'s state between epochs (its slots and step count) and is
also a working Keras optimizer for the same rules.

- ``"adam"``: Kingma & Ba 2015, as in Keras: ``m += (1 - b1)(g - m)``,
  ``v += (1 - b2)(g² - v)``, ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``,
  ``b1 = 0.9, b2 = 0.999, eps = 1e-7``, moments start at 0.
- ``"rmsprop"``: TF1's ``tf.train.RMSPropOptimizer`` as the NeuroMask reference used it:
  ``s = rho s + (1 - rho) g²``, ``w -= lr g / sqrt(s + eps)``, ``rho = 0.9, eps = 1e-10``,
  and ``s`` starts at **1** (Keras' RMSprop starts it at 0, which makes the first steps
  about three times larger).
"""

from __future__ import annotations

import keras
import tensorflow as tf

RULES = ("adam", "rmsprop")
_SLOT_STARTS = {"adam": (0.0, 0.0), "rmsprop": (1.0,)}


def initial_slots(rule: str, params: tf.Tensor) -> tuple:
    """The optimiser's state for ``params`` before the first step."""
    return tuple(tf.fill(tf.shape(params), tf.constant(value, params.dtype))
                 for value in _SLOT_STARTS[rule])


def apply_rule(rule: str, params, grads, slots: tuple, step, learning_rate: float):
    """One update of ``params`` by ``rule``; ``step`` counts from 1. Returns params, slots."""
    if rule == "adam":
        beta1, beta2, epsilon = 0.9, 0.999, 1e-7
        m, v = slots
        m = m + (grads - m) * (1.0 - beta1)
        v = v + (tf.square(grads) - v) * (1.0 - beta2)
        step = tf.cast(step, params.dtype)
        alpha = learning_rate * tf.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
        return params - alpha * m / (tf.sqrt(v) + epsilon), (m, v)
    rho, epsilon = 0.9, 1e-10
    (mean_square,) = slots
    mean_square = rho * mean_square + (1.0 - rho) * tf.square(grads)
    return params - learning_rate * grads / tf.sqrt(mean_square + epsilon), (mean_square,)


class MaskOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer running one of :data:`RULES` with :func:`apply_rule`.

    Args:
        rule: ``"adam"`` or ``"rmsprop"`` (TF1 semantics, see the module docstring).
        learning_rate: the step size.
    """

    def __init__(self, rule: str = "adam", learning_rate: float = 0.1, name=None, **kwargs):
        if rule not in RULES:
            raise ValueError(f"Expected optimizer rule in {RULES}. Received: rule={rule!r}")
        super().__init__(learning_rate=learning_rate, name=name or f"mask_{rule}", **kwargs)
        self.rule = rule

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._slots = [
            [self.add_variable_from_reference(variable, f"slot{i}", initializer=
                                              keras.initializers.Constant(start))
             for i, start in enumerate(_SLOT_STARTS[self.rule])]
            for variable in var_list
        ]

    def update_step(self, gradient, variable, learning_rate):
        slots = self.slots_for(variable)
        gradient = tf.cast(gradient, variable.dtype)
        params, new_slots = apply_rule(self.rule, tf.convert_to_tensor(variable), gradient,
                                       tuple(tf.convert_to_tensor(s) for s in slots),
                                       self.iterations + 1, tf.cast(learning_rate,
                                                                    variable.dtype))
        for slot, value in zip(slots, new_slots):
            self.assign(slot, value)
        self.assign(variable, params)

    def slots_for(self, variable) -> list:
        """The state variables of ``variable`` (Adam: ``m, v``; RMSProp: ``s``)."""
        return self._slots[self._get_variable_index(variable)]

    def reset(self):
        """Restarts the state (step count and slots) without rebuilding or retracing."""
        self.iterations.assign(0)
        for slots in self._slots:
            for slot, start in zip(slots, _SLOT_STARTS[self.rule]):
                slot.assign(tf.fill(tf.shape(slot), tf.constant(start, slot.dtype)))

    def get_config(self):
        return {**super().get_config(), "rule": self.rule}
