"""Where the refinement of a MaskPredictor's masks should start: its raw parameters or the
parameters squashed into ``init_value +- A`` (``Objective.warm_start`` uses A = 2).

For each amplitude ``A`` (``--amplitudes``; ``none``: the raw prediction) and each number of
refinement steps ``k`` (``--steps``) the masks of ``k`` NeuroMask steps from::

    w0 = init_value + A tanh((g(x, c) - init_value) / A)

are scored against the ground truth (pointing, energy, pieces of the top 10%, area) and by the
objective's own mean loss. The steps are :func:`keras_neuromask.optimisation.run_steps`, as in
``MaskPredictor.explain``; only the start differs. ``--default`` adds a row for the
per-image default (``NeuroMask(model).explain`` in batches of ``--batch`` images, scored by
the same objective): the loss and the energy the refinement is measured against.

Usage: python scripts/warm_start.py --set shapes --images 100
       python scripts/warm_start.py --set composites --images 24 --steps 0,25
"""

from __future__ import annotations

import argparse
import os
import sys
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # this checkout's package

from readable_report import DEFAULT_MODEL, load_set, say_missing  # noqa: E402
from speed_quality import PREDICTORS  # noqa: E402


def refined(objective, predicted, images, baseline, targets, amplitude, steps: int):
    """``(masks (N, H, W), mean loss)`` after ``steps`` steps from the predicted parameters
    ``predicted``, squashed into ``init_value +- amplitude`` (``None``: as they are)."""
    import tensorflow as tf

    from keras_neuromask.masking import soft_limit
    from keras_neuromask.optimisation import run_steps
    from keras_neuromask.optimizers import initial_slots

    params = predicted
    if amplitude is not None:  # Objective.warm_start's, any A
        params = soft_limit(params, objective.settings.init_value, amplitude)
    if steps:
        rule = objective.settings.optimizer
        params, *_ = run_steps(objective, params, initial_slots(rule, params), 0, images,
                               baseline, targets, steps)
    loss = objective.terms(params, images, baseline, targets).loss
    masks = objective.masks(params, tuple(images.shape[1:3]))[..., 0]
    return masks.numpy(), float(tf.reduce_mean(loss))


def per_image_default(model, objective, images, targets, batch: int):
    """``(masks (N, H, W), mean loss, mean steps)`` of the per-image default, ``batch`` images
    per ``explain`` call; the loss is ``objective``'s on the parameters each call ends with."""
    import numpy as np
    import tensorflow as tf

    from keras_neuromask import NeuroMask

    explainer = NeuroMask(model)
    masks, losses, steps = [], [], []
    for i in range(0, len(images), batch):
        x, t = tf.constant(images[i:i + batch]), tf.constant(targets[i:i + batch])
        result = explainer.explain(x, t, batch_size=batch)
        params = tf.convert_to_tensor(explainer.mask_params)
        losses.append(objective.terms(params, x, objective.baseline(x), t).loss.numpy())
        masks.append(result.masks)
        steps.append(result.steps)
    return (np.concatenate(masks), float(np.concatenate(losses).mean()),
            float(np.concatenate(steps).mean()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("shapes", "composites"), default="shapes")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--first", type=int, default=0,
                        help="skip this many of the set's images (a held-out slice)")
    parser.add_argument("--steps", default="0,25,50", help="refinement steps, a comma list")
    parser.add_argument("--amplitudes", default="none,5,3,2", help="A, a comma list")
    parser.add_argument("--predictor", help="default: speed_quality.py's for the set")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="composites' classifier")
    parser.add_argument("--default", action="store_true", help="also score the per-image default")
    parser.add_argument("--batch", type=int, default=12, help="the default's images per call")
    args = parser.parse_args()
    loaded = load_set(SimpleNamespace(set=args.set, images=args.first + args.images, seed=0,
                                      model=args.model))
    if loaded is None:
        return say_missing(args.model)
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_neuromask.amortised  # noqa: F401  (registers MaskPredictor for load_model)
    from keras_neuromask.evaluation import metrics

    model, images, targets, objects, _, tolerance = loaded
    images, targets, objects = (a[args.first:] for a in (images, targets, objects))
    targets = np.asarray(targets, np.int64)
    predictor = keras.saving.load_model(args.predictor or PREDICTORS[args.set])
    x, t = tf.constant(images), tf.constant(targets)

    def row(start: str, steps, masks, loss: float) -> None:
        print(f"| {start} | {steps} | {loss:.3f} | "
              f"{metrics.pointing_game(masks, objects, tolerance).mean():.3f} | "
              f"{metrics.energy(masks, objects).mean():.3f} | "
              f"{metrics.connected_pieces(masks).mean():.2f} | "
              f"{metrics.mask_area(masks).mean():.3f} |", flush=True)

    print("| A | steps | loss | pointing | energy | pieces | area |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    if args.default:
        masks, loss, steps = per_image_default(model, predictor.objective, images, targets,
                                               args.batch)
        row("per-image default", f"{steps:g}", masks, loss)
    objective = predictor.objective
    predicted, baseline = predictor.predict_params(x, t), objective.baseline(x)
    for text in args.amplitudes.split(","):
        amplitude = None if text == "none" else float(text)
        for steps in (int(s) for s in args.steps.split(",")):
            row(text, steps, *refined(objective, predicted, x, baseline, t, amplitude, steps))
    print(f"{args.set}: {len(images)} images from {args.first}; python scripts/warm_start.py "
          + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
