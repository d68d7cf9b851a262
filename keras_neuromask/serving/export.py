"""Export a :class:`NeuroMask` explainer as a SavedModel that TF Serving runs.

The whole optimisation runs inside the graph: a ``tf.while_loop`` carries the mask
parameters and the optimiser's moments, and a ``tf.GradientTape`` inside the loop gives the
gradient. Nothing is written to a variable, so concurrent requests cannot race. The maths is
the explainer's own (:meth:`NeuroMask.objective`, :func:`optimizers.apply_rule`), so the masks
equal the in-process ``explain`` for the same settings and seed.

Signatures:
    ``serving_default``: ``images`` float32 ``[None, H, W, C]`` -> ``masks`` ``[None, H, W]``,
        ``target`` int64 (the predicted class), ``original_probability``,
        ``masked_probability``, ``baseline_probability`` (p(target | baseline image): near
        ``original_probability``, the baseline alone keeps the class), ``steps`` int64 (the
        optimisation steps taken: all of them, or fewer where early stopping stopped the
        batch).
    ``explain_target``: ``images`` and ``targets`` int64 ``[None]`` -> the same outputs.
    ``predict``: ``images`` -> ``probabilities`` ``[None, classes]``.

A :class:`keras_neuromask.MaskPredictor` exports with the same signatures and outputs
(:mod:`keras_neuromask.serving.export_predictor`): its masks come from one forward pass of
its network, plus its ``refine_steps`` NeuroMask steps in the graph.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_neuromask import losses
from keras_neuromask.optimisation import epoch_length, run_steps
from keras_neuromask.optimizers import initial_slots
from keras_neuromask.stopping import plateau_update

SIGNATURES = ("serving_default", "explain_target", "predict")


def make_explain_function(explainer, image_shape, steps=None):
    """A pure TF function ``(images, targets) -> dict`` running the optimisation in-graph.

    Args:
        explainer: a :class:`keras_neuromask.NeuroMask`.
        image_shape: ``(H, W, C)`` of the images.
        steps: optimisation steps, default the explainer's.
    """
    height, width, _ = image_shape
    objective = explainer.mask_objective(image_shape)
    steps = objective.settings.checked_steps(steps, (height, width))

    def explain(images, targets=None, first_index=0):
        """``targets=None`` explains the predicted classes; ``first_index`` (an int or int32
        scalar tensor) is the global index of ``images[0]``, which seeds a uniform init."""
        images = checked_images(images, image_shape)
        from_logits = objective.from_logits
        outputs = objective.classify(images)
        if targets is None:
            targets = tf.argmax(outputs, axis=-1)
        targets = checked_targets(tf.cast(targets, tf.int64), tf.shape(images)[0],
                                  tf.shape(outputs)[-1])
        original = losses.target_probability(outputs, targets, from_logits=from_logits)
        baseline = objective.baseline(images)
        params = objective.initial_params(tf.shape(images)[0], height, width, first_index,
                                          images, baseline, targets)
        stopping = explainer.early_stopping  # fit's PlateauStopping, or None
        # Without early stopping one loop runs every step; with it, fit's epochs, each
        # followed by fit's callback's decision on the epoch's mean loss (as its tracker).
        per_epoch = steps if stopping is None else epoch_length(steps, None, True)
        count = tf.cast(tf.shape(images)[0], tf.float32)

        def epoch(step, params, previous, wait, stop, *slots):
            params, slots, step, sums = run_steps(objective, params, slots, step, images,
                                                  baseline, targets, per_epoch)
            if stopping is not None:
                mean = tf.reduce_sum(sums.loss / per_epoch) / count  # fit's Mean("loss")
                wait, stop = plateau_update(
                    previous, mean, wait, step,
                    min_relative_improvement=stopping.min_relative_improvement,
                    patience=stopping.patience, min_steps=stopping.min_steps)
                previous = mean
            return (step, params, previous, wait, stop, *slots)

        loop = tf.while_loop(
            lambda step, params, previous, wait, stop, *_: (step < steps) & ~stop,
            epoch, (tf.constant(0), params, tf.constant(float("nan")), tf.constant(0),
                    tf.constant(False), *initial_slots(objective.settings.optimizer, params)),
            parallel_iterations=1)
        params = loop[1]
        masks = objective.masks(params, (height, width))
        masked = objective.terms(params, images, baseline, targets).target_probability
        kept_by_baseline = losses.target_probability(objective.classify(baseline), targets,
                                                     from_logits=from_logits)
        return {"masks": masks[..., 0], "target": targets,
                "original_probability": original, "masked_probability": masked,
                "baseline_probability": kept_by_baseline,
                "steps": tf.fill(tf.shape(targets), tf.cast(loop[0], tf.int64))}

    return explain


def checked_images(images, image_shape):
    """``images`` once the graph has checked them: shape ``[N > 0, H, W, C]``, all finite.

    The checks run before the classifier (a rank-3 request would otherwise abort the
    process inside a convolution) and fail with ``InvalidArgumentError`` "Expected ...".
    """
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    padded = tf.concat([shape, tf.zeros([4], tf.int32)], 0)
    fits = tf.logical_and(tf.equal(tf.size(shape), 4),
                          tf.reduce_all(tf.equal(padded[1:4], list(image_shape))))
    expected = ", ".join(str(d) for d in image_shape)
    with tf.control_dependencies([
            tf.debugging.Assert(fits, [f"Expected images of shape [N, {expected}]. Received:",
                                       shape]),
            tf.debugging.Assert(padded[0] > 0, ["Expected at least one image. Received: 0"])]):
        images = tf.identity(images)
    images = tf.debugging.assert_all_finite(
        images, "Expected finite pixel values. Received: NaN or Inf")
    return tf.ensure_shape(images, [None, *image_shape])


def checked_targets(targets, count, classes):
    """``targets`` once checked: one per image, each in ``[0, classes)``."""
    classes = tf.cast(classes, tf.int64)
    with tf.control_dependencies([
            tf.debugging.Assert(tf.equal(tf.size(targets), count),
                                ["Expected one target per image. Received:",
                                 tf.size(targets), "targets for", count, "images"]),
            tf.debugging.Assert(tf.reduce_all((targets >= 0) & (targets < classes)),
                                ["Expected targets in [0, classes). Received:", targets])]):
        return tf.identity(targets)


def export_saved_model(explainer, export_dir: str, version: int | None = None, *,
                       image_shape=None, overwrite: bool = False) -> str:
    """Writes the explainer as ``<export_dir>/<version>/`` in TF Serving's layout.

    The version is written to a temporary folder beside it, then renamed, so a reader never
    sees half a version.

    Args:
        explainer: a :class:`keras_neuromask.NeuroMask` (its preset, steps, baseline, mask
            grid, seed, ``early_stopping`` — the loop stops at the step ``explain`` stops —
            and ``preprocess`` — which must be TF ops — are baked in), or a
            :class:`keras_neuromask.MaskPredictor` (its network, ``refine_steps`` and
            objective baked in).
        export_dir: the model's base path (TF Serving's ``--model_base_path``).
        version: a positive int; default the next free number (1 for a new folder).
        image_shape: ``(H, W, C)``; default the classifier's input shape.
        overwrite: replace an existing version instead of refusing.

    Returns:
        The path of the version folder.

    Example:
        >>> export_saved_model(NeuroMask(classifier, steps=200), "models/neuromask")
        'models/neuromask/1'
    """
    from keras_neuromask.amortised.predictor import MaskPredictor
    from keras_neuromask.explainer import NeuroMask

    if not isinstance(explainer, (NeuroMask, MaskPredictor)):
        raise TypeError(f"Expected a NeuroMask explainer or a MaskPredictor. Received: "
                        f"{type(explainer).__name__}")
    if not isinstance(export_dir, (str, os.PathLike)):
        raise TypeError(f"Expected export_dir as a str or os.PathLike. Received: "
                        f"{export_dir!r}")
    if image_shape is None and isinstance(explainer, MaskPredictor):
        image_shape = explainer.image_shape
    image_shape = _image_shape(explainer, image_shape)
    export_dir = os.fspath(export_dir)
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise ValueError(f"Expected export_dir to be a folder. Received: {export_dir!r} "
                         "(a file)")
    version = _next_version(export_dir) if version is None else version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"Expected version to be a positive int. Received: {version!r}")
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target) and not overwrite:
        raise ValueError(f"Expected a new version folder. Received: {target} exists (pass "
                         "overwrite=True to replace it)")
    if isinstance(explainer, MaskPredictor):
        from keras_neuromask.serving.export_predictor import predictor_archive

        archive = predictor_archive(explainer, image_shape)
    else:
        archive = _archive(explainer, image_shape)
    os.makedirs(export_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{version}-partial-", dir=export_dir)
    try:
        archive.write_out(os.path.join(staging, "model"), verbose=False)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(os.path.join(staging, "model"), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _archive(explainer, image_shape):
    explain = make_explain_function(explainer, image_shape)
    objective = explainer.mask_objective(image_shape)  # decided while making explain
    return archive_of(explain, objective, image_shape, [explainer.classifier])


def archive_of(explain, objective, image_shape, tracked) -> keras.export.ExportArchive:
    """The three signatures around ``explain(images, targets=None) -> dict``; ``tracked``:
    the Keras models whose variables the graph reads."""
    images_spec = tf.TensorSpec([None, *image_shape], tf.float32, name="images")
    targets_spec = tf.TensorSpec([None], tf.int64, name="targets")

    def explain_predicted(images):
        return explain(images)  # one check of the images, one forward pass for the targets

    def predict(images):
        outputs = objective.classify(checked_images(images, image_shape))
        if objective.from_logits:
            outputs = tf.nn.softmax(outputs, axis=-1)
        return {"probabilities": outputs}

    archive = keras.export.ExportArchive()
    for model in tracked:
        archive.track(model)
    archive.add_endpoint("serving_default", explain_predicted, [images_spec])
    archive.add_endpoint("explain_target", explain, [images_spec, targets_spec])
    archive.add_endpoint("predict", predict, [images_spec])
    return archive


def _image_shape(explainer, image_shape):
    if image_shape is None:
        shape = tuple(explainer.classifier.inputs[0].shape[1:]) if getattr(
            explainer.classifier, "inputs", None) else ()
        if len(shape) != 3 or None in shape:
            raise ValueError("Expected image_shape=(H, W, C) for a classifier without a fixed "
                             f"input size. Received: input shape {shape}")
        return tuple(int(d) for d in shape)
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in image_shape):
        raise ValueError(f"Expected image_shape as (H, W, C) positive ints. Received: "
                         f"{image_shape!r}")
    inputs = getattr(explainer.classifier, "inputs", None)
    fixed = tuple(inputs[0].shape[1:]) if inputs and explainer.preprocess is None else ()
    if len(fixed) == 3 and any(f is not None and f != d for f, d in zip(fixed, image_shape)):
        raise ValueError(f"Expected image_shape to fit the classifier's input {fixed}. "
                         f"Received: {image_shape}")
    return image_shape


def _next_version(export_dir: str) -> int:
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if re.fullmatch(r"\d+", name)]
    return max(versions, default=0) + 1
