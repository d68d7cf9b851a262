"""Explain one batch on several devices: one contiguous shard of images per replica.

Every replica runs the exporter's pure in-graph optimisation
(:func:`keras_neuromask.serving.export.make_explain_function`: a ``tf.while_loop`` over the mask
parameters and the optimiser's moments, no variable written) on its shard, under
``strategy.run`` in one ``tf.function``. Images are optimised independently (the loss is a sum
of per-image losses, a uniform init is seeded by ``(seed, global image index)``), so shard
``k`` of ``R`` replicas, images ``[k s, (k + 1) s)`` with ``s = ceil(N / R)``, gets the masks
the same optimisation gives them on one device. These equal :meth:`NeuroMask.explain`'s up to
float rounding, which can depend on the batch size a device computes and which the
optimisation can amplify (as changing ``explain``'s ``batch_size`` does). The classifier is
only read.
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf

from keras_neuromask.explainer import Explanation, NeuroMask
from keras_neuromask.serving.export import make_explain_function

_COMPILED: dict = {}  # a few recent (explainer, strategy, shape, steps) -> tf.function
_DEFAULT: list = []  # the MirroredStrategy made for strategy=None, made once


def explain_distributed(explainer: NeuroMask, images, targets=None, *,
                        strategy: tf.distribute.Strategy | None = None,
                        steps: int | None = None) -> Explanation:
    """Explains each image's target class, the batch split across the strategy's replicas.

    The batch is cut into one contiguous shard per replica; when ``N`` is not a multiple of
    the replica count the last image is repeated to fill the shards and the copies are dropped
    from the result. Shards of the same shape reuse one compiled function.

    Args:
        explainer: a :class:`keras_neuromask.NeuroMask` (its preset, baseline, seed and
            ``preprocess`` apply; ``batch_size`` and ``jit_compile`` do not: each replica
            optimises its whole shard at once, all ``steps``, without XLA; early stopping is
            refused).
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, as for ``explain``.
        targets: ``None`` (the predicted classes), one int, or one int per image.
        strategy: a ``tf.distribute.Strategy`` whose replicas all run in this process;
            ``None`` uses the strategy in scope when there is one (``with strategy.scope():``),
            else one ``MirroredStrategy()`` over all visible GPUs (the CPU when there are
            none; logical CPUs are only used when named, e.g.
            ``MirroredStrategy(["/cpu:0", "/cpu:1"])``).
        steps: optimisation steps, default the preset's.

    Returns:
        An :class:`~keras_neuromask.explainer.Explanation`, as :meth:`NeuroMask.explain`.

    Example:
        >>> strategy = tf.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"])
        >>> result = explain_distributed(NeuroMask(classifier), images, strategy=strategy)
    """
    start = time.perf_counter()
    if not isinstance(explainer, NeuroMask):
        raise TypeError(f"Expected a NeuroMask explainer. Received: {type(explainer).__name__}")
    if explainer.early_stopping is not None:  # each shard would stop on its own mean loss
        raise ValueError("Expected an explainer with early_stopping=False (shards would stop "
                         "apart, at steps the result cannot report). Received: "
                         f"{explainer.early_stopping!r}")
    batch, chosen, original = explainer.checked_inputs(images, targets)
    steps = explainer.settings.checked_steps(steps, batch.shape[1:3])
    strategy = _strategy(strategy)

    count, replicas = len(batch), strategy.num_replicas_in_sync
    shard = math.ceil(count / replicas)
    order = np.minimum(np.arange(shard * replicas), count - 1)  # pads with the last image
    padded_images, padded_targets = batch[order], chosen[order]

    def shard_of(context):
        k = context.replica_id_in_sync_group
        part = slice(k * shard, (k + 1) * shard)
        return (tf.constant(padded_images[part]), tf.constant(padded_targets[part]),
                tf.constant(k * shard, tf.int32))

    run = _compiled(explainer, strategy, batch.shape[1:], steps)
    outputs = run(strategy.experimental_distribute_values_from_function(shard_of))
    local = strategy.experimental_local_results(outputs)
    if len(local) != replicas:  # a multi-worker strategy: other shards are elsewhere
        raise ValueError(f"Expected a strategy whose replicas all run in this process. "
                         f"Received: {len(local)} local of {replicas} replicas")
    masks = np.concatenate([out["masks"].numpy() for out in local])[:count]
    masked = np.concatenate([out["masked_probability"].numpy() for out in local])[:count]
    kept_by_baseline = np.concatenate(
        [out["baseline_probability"].numpy() for out in local])[:count]
    bad = np.flatnonzero(~np.isfinite(masks).all(axis=(1, 2)) | ~np.isfinite(masked))
    if bad.size:
        raise FloatingPointError("Expected a finite loss. Received: NaN or Inf during the "
                                 f"optimisation of image(s) {bad.tolist()}")
    return Explanation(masks.astype(np.float32), chosen, original, masked.astype(np.float32),
                       np.full(count, steps, np.int64), time.perf_counter() - start,
                       kept_by_baseline.astype(np.float32))


def _strategy(strategy):
    """The strategy given, the one in scope, or one ``MirroredStrategy()`` made once."""
    if strategy is not None:
        if not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(f"Expected strategy to be None or a tf.distribute.Strategy. "
                            f"Received: {type(strategy).__name__}")
        return strategy
    if tf.distribute.has_strategy():
        return tf.distribute.get_strategy()
    if not _DEFAULT:
        _DEFAULT.append(tf.distribute.MirroredStrategy())
    return _DEFAULT[0]


def _compiled(explainer, strategy, image_shape, steps: int):
    """One ``tf.function`` per (explainer, strategy, image shape, steps), a few kept."""
    key = (id(explainer), id(strategy), tuple(image_shape), steps)
    if key not in _COMPILED:
        explain = make_explain_function(explainer, tuple(image_shape), steps=steps)

        @tf.function(reduce_retracing=True)
        def run(shards):
            return strategy.run(lambda shard: explain(*shard), args=(shards,))

        if len(_COMPILED) >= 4:
            _COMPILED.pop(next(iter(_COMPILED)))
        # the entry holds explainer and strategy, so their ids are not reused while cached
        _COMPILED[key] = (run, explainer, strategy)
    return _COMPILED[key][0]


__all__ = ["explain_distributed"]
