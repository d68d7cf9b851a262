"""One graph function from images and targets to masks, shared by
:meth:`MaskPredictor.explain` and the SavedModel export, so both give the same masks.

For predicted parameters ``w_p = g(x, c)`` and ``k`` refinement steps (NeuroMask's optimiser
from the warm start ``w0``, its moments at zero: :func:`keras_neuromask.optimisation.run_steps`)::

    w = w_p                                                   (k = 0)
    w0 = init_value + A tanh((w_p - init_value) / A)          (Objective.warm_start, A = 2)
    w = w0 after k steps of gradient descent on L(w) (the objective's loss)
    m = masks(w, (H, W))
    masked_probability   = p_c(m x + (1 - m) b)
    baseline_probability = p_c(b)
"""

from __future__ import annotations

import tensorflow as tf

from keras_neuromask import losses, masking
from keras_neuromask.optimisation import run_steps
from keras_neuromask.optimizers import initial_slots


def masks_function(predictor, refine_steps: int):
    """``(images, targets) -> dict`` of ``masks`` ``(N, H, W)``, ``params``,
    ``masked_probability`` and ``baseline_probability`` (pure TF, no variable written).

    Args:
        predictor: a :class:`keras_neuromask.amortised.MaskPredictor`.
        refine_steps: NeuroMask steps from the predicted parameters (0: the prediction).
    """
    objective = predictor.objective
    size = tuple(predictor.image_shape[:2])
    rule = objective.settings.optimizer

    def explain(images, targets):
        params = predictor.predict_params(images, targets)
        baseline = objective.baseline(images)
        if refine_steps:
            start = objective.warm_start(params)
            params, *_ = run_steps(objective, start, initial_slots(rule, start), 0, images,
                                   baseline, targets, refine_steps)
        mask = objective.masks(params, size)
        outputs = objective.classify(tf.concat([masking.blend(images, mask, baseline),
                                                baseline], 0))
        count = tf.shape(images)[0]
        probability = losses.target_probability(
            outputs, tf.concat([targets, targets], 0), from_logits=objective.from_logits)
        return {"masks": mask[..., 0], "params": params,
                "masked_probability": probability[:count],
                "baseline_probability": probability[count:]}

    return explain


__all__ = ["masks_function"]
