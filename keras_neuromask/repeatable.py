"""Masks that are the same floats run after run on CPU.

TensorFlow's CPU runtime runs independent ops of a graph side by side (its inter-op thread
pool). On an EfficientNet the gradient of NeuroMask's loss then differs between calls by one
rounding (3e-8) in about half of the calls, with the same inputs and shapes, and 50 Adam steps
grow that into masks that differ by up to 0.86 on some pixels: the default's energy on the
same 12 photo composites was 0.767, 0.747, 0.766 and 0.755 in four calls. Neither
``tf.config.experimental.enable_op_determinism()`` nor ``TF_ENABLE_ONEDNN_OPTS=0`` removes it;
running one op at a time does (12 composites: 60.2 s against 59.2 s on 2 cores, one call
each; docs/reliability.md, "Determinism"). Each op still uses every core.
"""

from __future__ import annotations


def enable_repeatable_masks() -> None:
    """Runs TensorFlow's ops one at a time (``inter_op_parallelism_threads = 1``), so that
    the same images, targets and batch size give the same masks in every run.

    Call it before TensorFlow runs its first op (at the top of a script); the ``neuromask``
    command line calls it for every command.

    Raises:
        RuntimeError: TensorFlow has already started with more than one inter-op thread.
    """
    import tensorflow as tf

    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError as error:
        raise RuntimeError(
            "Expected enable_repeatable_masks() to be called before TensorFlow runs its "
            "first op (its thread pools are fixed then). Received: a call after TensorFlow "
            f"started ({error})") from None


__all__ = ["enable_repeatable_masks"]
