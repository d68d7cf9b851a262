"""Masks that are the same floats run after run on CPU.

TensorFlow's CPU runtime runs independent ops of a graph side by side (its inter-op thread
pool). On a large classifier that changes one rounding of NeuroMask's gradient now and then,
with the same inputs and shapes, and the optimisation's steps grow it into visibly other masks
for some images. ``tf.config.experimental.enable_op_determinism()`` does not remove it; running
one op at a time does (figures and their command: docs/reliability.md, "Determinism").
"""

from __future__ import annotations


def enable_repeatable_masks() -> None:
    """Runs TensorFlow's ops one at a time (``inter_op_parallelism_threads = 1``), so that
    the same images, targets and batch size give the same masks in every run.

    Call it before TensorFlow runs its first op (at the top of a script); each op still uses
    every core. The ``neuromask`` command line calls it for every command but
    ``explain-dataset`` (whose Beam workers start TensorFlow themselves).

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
