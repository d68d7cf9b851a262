"""Do the same images give the same masks, call after call, in one process?

Two measurements on one batch (docs/reliability.md, "Determinism"):

1. the gradient of NeuroMask's loss at fixed parameters (the default's after one step),
   computed ``--repeats`` times: how many repeats differ from the first, and by how much;
2. ``--calls`` fresh explainers run the default on the same batch: each call's seconds, the
   masks' energy and their largest difference from the first call's masks.

``--one-op-at-a-time`` calls :func:`keras_neuromask.enable_repeatable_masks` first.

Usage: python scripts/repeatability.py --set composites --images 12
       python scripts/repeatability.py --set composites --images 12 --one-op-at-a-time
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # this checkout's package

from readable_report import DEFAULT_MODEL, load_set, say_missing  # noqa: E402


def gradient_repeats(objective, params, images, targets, repeats: int) -> list[float]:
    """Largest difference of each repeat's gradient of the summed loss from the first's."""
    import numpy as np
    import tensorflow as tf

    baseline = objective.baseline(images)

    @tf.function
    def gradient(params):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = tf.reduce_sum(objective.terms(params, images, baseline, targets).loss)
        return tape.gradient(loss, params)

    first = gradient(params).numpy()
    return [float(np.abs(gradient(params).numpy() - first).max()) for _ in range(repeats - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("shapes", "composites"), default="composites")
    parser.add_argument("--images", type=int, default=12, help="one batch of this many")
    parser.add_argument("--repeats", type=int, default=8, help="gradient computations")
    parser.add_argument("--calls", type=int, default=3, help="explain calls")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="composites' classifier")
    parser.add_argument("--one-op-at-a-time", action="store_true",
                        help="call enable_repeatable_masks() first")
    args = parser.parse_args()
    if args.one_op_at_a_time:
        from keras_neuromask import enable_repeatable_masks

        enable_repeatable_masks()
    loaded = load_set(SimpleNamespace(set=args.set, images=args.images, seed=0,
                                      model=args.model))
    if loaded is None:
        return say_missing(args.model)
    import numpy as np
    import tensorflow as tf

    from keras_neuromask import NeuroMask
    from keras_neuromask.evaluation import metrics

    model, images, targets, objects, _, _ = loaded
    x, t = tf.constant(images), tf.constant(np.asarray(targets, np.int64))
    mode = "one op at a time" if args.one_op_at_a_time else "TensorFlow's default pool"
    print(f"{args.set}, {len(images)} images, {mode}; python scripts/repeatability.py "
          + " ".join(sys.argv[1:]))

    probe = NeuroMask(model, steps=1)
    probe.explain(x, t, batch_size=len(images))
    differences = gradient_repeats(probe.mask_objective(), tf.convert_to_tensor(
        probe.mask_params), x, t, args.repeats)
    print(f"gradient: {sum(d > 0 for d in differences)} of {len(differences)} repeats differ "
          f"from the first, largest {max(differences):.3g}")

    first = None
    for call in range(args.calls):
        start = time.perf_counter()
        masks = NeuroMask(model).explain(x, t, batch_size=len(images)).masks
        seconds = time.perf_counter() - start
        first = masks if first is None else first
        print(f"call {call + 1}: {seconds:.1f} s, energy "
              f"{metrics.energy(masks, objects).mean():.3f}, largest difference from call 1 "
              f"{np.abs(masks - first).max():.3g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
