"""The SavedModel of a :class:`keras_neuromask.MaskPredictor`: the signatures and outputs of
:mod:`keras_neuromask.serving.export` (so TF Serving clients, ``saved_model_cli`` and the
Beam pipeline use it unchanged), with masks from one forward pass of the predictor's network
and its ``refine_steps`` NeuroMask steps, all in the graph
(:func:`keras_neuromask.amortised.inference.masks_function`, the function
:meth:`MaskPredictor.explain` runs, so the masks equal the in-process ones).
"""

from __future__ import annotations

import tensorflow as tf

from keras_neuromask import losses
from keras_neuromask.amortised.inference import masks_function
from keras_neuromask.serving.export import archive_of, checked_images, checked_targets


def make_predictor_function(predictor, image_shape):
    """``(images, targets=None) -> dict`` with the outputs of NeuroMask's export:
    ``masks``, ``target``, ``original_probability``, ``masked_probability``,
    ``baseline_probability``, ``steps``."""
    if tuple(image_shape) != tuple(predictor.image_shape):
        raise ValueError(f"Expected the predictor's image shape {predictor.image_shape}. "
                         f"Received: image_shape={tuple(image_shape)}")
    objective = predictor.objective
    core = masks_function(predictor, predictor.refine_steps)

    def explain(images, targets=None):
        images = checked_images(images, image_shape)
        outputs = objective.classify(images)
        if targets is None:
            targets = tf.argmax(outputs, axis=-1)
        targets = checked_targets(tf.cast(targets, tf.int64), tf.shape(images)[0],
                                  tf.shape(outputs)[-1])
        original = losses.target_probability(outputs, targets,
                                             from_logits=objective.from_logits)
        answer = core(images, targets)
        return {"masks": answer["masks"], "target": targets,
                "original_probability": original,
                "masked_probability": answer["masked_probability"],
                "baseline_probability": answer["baseline_probability"],
                "steps": tf.fill(tf.shape(targets), tf.constant(predictor.refine_steps,
                                                                tf.int64))}

    return explain


def predictor_archive(predictor, image_shape):
    """The ``keras.export.ExportArchive`` of a predictor (its classifier and network
    tracked)."""
    explain = make_predictor_function(predictor, image_shape)
    return archive_of(explain, predictor.objective, image_shape,
                      [predictor.classifier, predictor.network])


__all__ = ["make_predictor_function", "predictor_archive"]
