"""The optimisation loop itself, one function shared by ``fit``, the export and several devices.

:func:`run_steps` runs ``count`` steps of gradient descent on the mask parameters inside one
``tf.while_loop``; each step is::

    L(w) = sum_i loss_i(w)                      (each image's gradient is its own)
    g    = d(s L)/dw / s                        (s: the static loss scale, 2^12 under float16)
    w, slots <- apply_rule(rule, w, g, slots, t + 1, lr)

Running a whole epoch in one loop (rather than one Keras ``train_step`` per optimisation step)
keeps Keras' per-step work (the data iterator, six metric updates, the optimiser's
bookkeeping) out of the step: ``fit`` then costs what the exported graph costs (see
``scripts/bench.py --profile``), and the three entry points run the same ops in the same order.
"""

from __future__ import annotations

import tensorflow as tf

from keras_neuromask import inputs
from keras_neuromask.losses import LossTerms
from keras_neuromask.optimizers import apply_rule


def run_steps(objective, params, slots: tuple, step, images, baseline, targets, count: int,
              *, jit_compile: bool = False):
    """``count`` optimisation steps from ``(params, slots)`` after ``step`` steps.

    Args:
        objective: a :class:`keras_neuromask.objective.Objective` (the loss, the optimiser's
            rule and rate in its settings, the loss scale).
        params: ``(N, h, w, 1)`` mask parameters; slots: the rule's state (tensors).
        step: steps already taken (int scalar), for Adam's bias correction.
        images, baseline, targets: as in :meth:`Objective.terms`.
        count: the number of steps (a Python int or an int32 scalar).
        jit_compile: compile each step (not the loop: XLA's own loops are slow on CPU) with
            XLA.

    Returns:
        ``(params, slots, step, sums)``: the state after the steps and a
        :class:`keras_neuromask.losses.LossTerms` of each term's ``(N,)`` sum over the steps
        (each evaluated before that step's update).
    """
    rule, rate = objective.settings.optimizer, objective.settings.learning_rate
    scale = objective.loss_scale
    start = tf.cast(step, tf.int32)
    zeros = tf.zeros(tf.shape(images)[:1])
    sums = LossTerms(*[zeros] * len(LossTerms._fields))
    removed_fill = objective.removed_fill(images)  # once per batch, not per step
    original_loss = objective.original_loss(images, targets)
    preservation_scale = objective.preservation_scale(baseline, targets, original_loss)

    def one_step(params, slots, step):
        with tf.GradientTape() as tape:
            tape.watch(params)
            terms = objective.terms(params, images, baseline, targets, removed_fill,
                                    original_loss, preservation_scale)
            scaled = tf.reduce_sum(terms.loss) * scale  # float16 gradients must not underflow
        gradient = tape.gradient(scaled, params) / scale
        params, slots = apply_rule(rule, params, gradient, slots, step, rate)
        return params, slots, terms

    if jit_compile:
        one_step = tf.function(one_step, jit_compile=True)

    def body(done, params, sums, *slots):
        params, slots, terms = one_step(params, tuple(slots), start + done + 1)
        sums = LossTerms(*[total + value for total, value in zip(sums, terms)])
        return (done + 1, params, sums, *slots)

    done, params, sums, *slots = tf.while_loop(
        lambda done, *_: done < count, body, (tf.constant(0), params, sums, *slots),
        parallel_iterations=1)
    return params, tuple(slots), start + done, sums


def epoch_length(steps: int, requested: int | None, early_stopping: bool = False) -> int:
    """``requested`` (checked), else the largest divisor of ``steps`` up to 50 (25 with
    early stopping, so the plateau test sees short windows)."""
    if requested is not None:
        requested = inputs.check_int("steps_per_epoch", requested, minimum=1)
        if steps % requested:
            raise ValueError(f"Expected steps_per_epoch to divide steps ({steps}). "
                             f"Received: {requested}")
        return requested
    limit = 25 if early_stopping else 50
    return max(d for d in range(1, min(steps, limit) + 1) if steps % d == 0)


def even_batches(count: int, size: int) -> list[tuple[int, int, int]]:
    """``(start, stop, padding)`` of each batch when ``count`` images are optimised at most
    ``size`` at a time: ``n = ceil(count / size)`` batches of ``ceil(count / n)`` rows, the
    short ones padded with ``padding`` repeats of their last image.

    Every batch then has one shape, so the compiled step (whose tracing costs tens of
    optimisation steps on an EfficientNet) is traced once per call instead of once more for
    a short last batch: 24 images at ``size=16`` run as 12 + 12, 17 as 9 + 9 (one repeat).
    At most ``n - 1`` rows are padding.
    """
    count, size = (inputs.check_int("count", count, minimum=0),
                   inputs.check_int("batch_size", size, minimum=1))
    if count == 0:
        return []
    batches = -(-count // size)
    rows = -(-count // batches)
    return [(start, min(start + rows, count), max(0, start + rows - count))
            for start in range(0, count, rows)]

