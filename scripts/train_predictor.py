"""Train a MaskPredictor (amortised NeuroMask) on images disjoint from the evaluation sets.

Sets (``--set``):

* ``shapes``: ``make_shapes(N, seed=--seed)`` (default 31337: neither the evaluation's 2024,
  the CNN's held-out 987654, nor one of the CNN's training seeds), explained with the
  benchmark CNN (``trained_shapes_cnn()``, the one ``readable_report.py --set shapes`` uses).
* ``composites``: the 7 objects of ``keras_neuromask.evaluation.photo_composites`` pasted on
  OTHER backgrounds (:data:`TRAIN_BACKGROUNDS`: scikit-image photos none of the evaluation's 10
  backgrounds comes from) with another seed (other placements, scales, mirrorings), kept where
  EfficientNet-Lite1 ranks the object's class in its top 5, as for the evaluation set
  (``readable_report.py --set composites``: ``seed=0``, the 10 ``BACKGROUNDS``). Skips with a
  message when the model file is missing.

Prints and writes (``<out>.json`` beside the ``.keras`` file) the training time and the number
of training images; ``speed_quality.py`` reads them.

``--resume P`` trains the predictor ``P`` further (its record's epochs, seconds and command
are added to this run's).

Usage: python scripts/train_predictor.py --set shapes --out predictors/shapes.keras
       python scripts/train_predictor.py --set composites --images 300 --epochs 10 \
           --out predictors/composites.keras
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # this checkout's package

from readable_report import DEFAULT_MODEL, say_missing  # noqa: E402

TRAIN_SEED = {"shapes": 31337, "composites": 1000}
# (name, scikit-image function, box): photos the evaluation's backgrounds do not come from.
TRAIN_BACKGROUNDS = (
    ("coins", "coins", (0.0, 0.0, 1.0, 1.0)),
    ("page", "page", (0.0, 0.0, 1.0, 1.0)),
    ("text", "text", (0.0, 0.0, 1.0, 1.0)),
    ("retina", "retina", (0.0, 0.0, 1.0, 1.0)),
    ("cells", "cell", (0.0, 0.0, 1.0, 1.0)),
    ("microaneurysms", "microaneurysms", (0.0, 0.0, 1.0, 1.0)),
    ("camera sky", "camera", (0.0, 0.0, 1.0, 0.3)),
)


def shapes_training_set(count: int, seed: int):
    """``(model, images)`` for the shapes benchmark."""
    from keras_neuromask.evaluation.datasets import make_shapes, trained_shapes_cnn

    return trained_shapes_cnn(), make_shapes(count, seed=seed).images


def tinted(photo, rng):
    """``photo`` (uint8 RGB) in a random colour: ``255 * clip(g * c + o, 0, 1)`` for its
    grey level ``g`` in [0, 1], a colour ``c`` in [0.2, 1]^3 (scaled so its largest channel is
    1) and an offset ``o`` in [0, 0.3]^3."""
    import numpy as np

    grey = photo.astype(np.float32).mean(axis=-1, keepdims=True) / 255.0
    colour = rng.uniform(0.2, 1.0, 3)
    colour /= colour.max()
    offset = rng.uniform(0.0, 0.3, 3)
    return (255.0 * np.clip(grey * colour + offset, 0.0, 1.0)).astype(np.uint8)


def composites_training_set(model, count: int, seed: int, tints: int = 0):
    """Composites of the evaluation's objects on :data:`TRAIN_BACKGROUNDS`, each background
    also in ``tints`` random colours (:func:`tinted`; most of them are grey, the evaluation's
    are green, brick, pink, blue: without colour the network can learn "colour = object")."""
    import numpy as np
    from skimage import data

    from keras_neuromask.evaluation.photo_composites import (
        Background,
        load_sample_photos,
        make_photo_composites,
    )

    photos = dict(load_sample_photos())
    backgrounds = []
    rng = np.random.default_rng(seed)
    for name, function, box in TRAIN_BACKGROUNDS:
        photo = np.asarray(getattr(data, function)(), np.uint8)
        photo = np.repeat(photo[..., None], 3, axis=-1) if photo.ndim == 2 else photo[..., :3]
        photos[f"train:{function}"] = photo
        backgrounds.append(Background(name, f"train:{function}", box))
        for tint in range(tints):
            photos[f"train:{function}:tint{tint}"] = tinted(photo, rng)
            backgrounds.append(Background(f"{name} tint {tint}",
                                          f"train:{function}:tint{tint}", box))
    return make_photo_composites(model.predict_on_batch, count, seed=seed,
                                 backgrounds=tuple(backgrounds), photos=photos)


def resumed_record(resumed: str, record: dict) -> dict:
    """The training record of a predictor trained further from ``resumed``: epochs, seconds
    and commands summed with those of ``resumed``'s record (this run's alone under
    ``"this_run"``)."""
    path = os.path.splitext(resumed)[0] + ".json"
    if not os.path.exists(path):
        return dict(record, resumed_from=resumed)
    with open(path, encoding="utf-8") as file:
        before = json.load(file)
    this_run = {key: record[key] for key in ("epochs", "train_seconds", "final_loss", "command")}
    return dict(record, epochs=before["epochs"] + record["epochs"],
                train_seconds=round(before["train_seconds"] + record["train_seconds"], 1),
                command=f"{before['command']} && {record['command']}",
                resumed_from=resumed, this_run=this_run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("shapes", "composites"), default="shapes")
    parser.add_argument("--images", type=int, help="shapes: 4000, composites: 300")
    parser.add_argument("--epochs", type=int, help="shapes: 20, composites: 10")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--feature-layer", nargs="*", help="default: the model's last 4-D")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seed", type=int, help="of the training images")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="composites' classifier")
    parser.add_argument("--tints", type=int, default=0,
                        help="composites: each background also in this many random colours")
    parser.add_argument("--resume", help="a .keras predictor to train further (its network, "
                        "level and feature layers; a fresh Adam at --learning-rate)")
    parser.add_argument("--out", required=True, help="the .keras file to write")
    args = parser.parse_args()
    count = args.images or {"shapes": 4000, "composites": 300}[args.set]
    epochs = args.epochs or {"shapes": 20, "composites": 10}[args.set]
    seed = TRAIN_SEED[args.set] if args.seed is None else args.seed
    import keras

    from keras_neuromask.amortised import MaskPredictor

    start = time.perf_counter()
    if args.set == "shapes":
        model, images = shapes_training_set(count, seed)
        backgrounds = None
    else:
        if not os.path.exists(args.model):
            return say_missing(args.model)
        model = keras.saving.load_model(args.model)
        drawn = composites_training_set(model, count, seed, args.tints)
        images, backgrounds = drawn.images, sorted(set(drawn.backgrounds))
    made = time.perf_counter() - start
    keras.utils.set_random_seed(0)
    if args.resume:
        predictor = keras.saving.load_model(args.resume, compile=False)
    else:
        predictor = MaskPredictor(model, feature_layer=args.feature_layer or None,
                                  width=args.width, batch_size=args.batch_size)
    predictor.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.perf_counter()
    history = predictor.fit(images, epochs=epochs, batch_size=args.batch_size, verbose=2)
    seconds = time.perf_counter() - start
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    predictor.save(args.out)
    record = {"set": args.set, "images": int(len(images)), "epochs": epochs, "seed": seed,
              "train_seconds": round(seconds, 1), "data_seconds": round(made, 1),
              "feature_layers": list(predictor.feature_layer_names),
              "backgrounds": backgrounds, "final_loss": history.history["loss"][-1],
              "command": "python " + shlex.join([os.path.relpath(__file__)] + sys.argv[1:])}
    if args.resume:
        record = resumed_record(args.resume, record)
    with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as file:
        json.dump(record, file, indent=2)
    print(f"trained on {len(images)} {args.set} images, {epochs} epochs, in {seconds:.0f} s "
          f"(data {made:.0f} s); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
