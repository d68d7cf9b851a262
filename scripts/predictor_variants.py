"""Short trainings of MaskPredictor variants on the shapes benchmark, to find what closes the
amortisation gap before paying for a full training (docs/amortised.md, "The level's rate").

Each run trains one variant on the training images of ``train_predictor.py --set shapes``
(``make_shapes(--images, seed=31337)``) and scores its one-pass masks on the 100 evaluation images
(seed 2024): the objective's mean loss and terms, the kept probability, pointing, energy,
area and the largest ``|w|``. Variants:

* ``--level-rate R``: ``MaskPredictor(level_rate=R)`` (1: the level steps like the head).
* ``--head-depth K`` (> 1): K 3x3 convolutions after the class selector instead of one, each
  after the first added to its input (a residual stack), ``--dilate`` doubling the dilation
  at each. An exploration, not an option of the package: the script replaces
  ``network.mask_network`` for its own run.
* ``--feature-layer``: the classifier layers read (``image`` is its input: the pixels).

Usage: python scripts/predictor_variants.py --images 2000 --epochs 8 --level-rate 1
       python scripts/predictor_variants.py --head-depth 3 --feature-layer image conv1b_relu \
           conv2b_relu last_conv
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

from readable_report import load_set  # noqa: E402
from train_predictor import TRAIN_SEED, shapes_training_set  # noqa: E402


def residual_head(depth: int, dilate: bool):
    """A ``network.mask_network`` with ``depth`` 3x3 convolutions after the class selector."""
    import keras

    from keras_neuromask.amortised.layers import CentredLevel, ClassSelector, ResizeTo

    def mask_network(input_shapes, classes, grid, *, from_images=False, width=64,
                     init_value=0.0, level_rate=1.0, seed=0):
        if from_images:
            raise ValueError("Expected a classifier with feature layers. Received: the conv "
                             "encoder")
        layers = keras.layers

        def init(index):
            return keras.initializers.HeNormal(seed=seed + index)

        sources = [keras.Input(shape, name=f"features_{i}")
                   for i, shape in enumerate(input_shapes)]
        targets = keras.Input((), dtype="int32", name="targets")
        resized = [ResizeTo(grid)(source) for source in sources]
        x = resized[0] if len(resized) == 1 else layers.Concatenate()(resized)
        x = layers.Conv2D(width, 1, activation="relu", kernel_initializer=init(10),
                          name="bottleneck")(x)
        x = ClassSelector(classes, name="class_selector")([x, targets])
        for index in range(depth):
            y = layers.Conv2D(width, 3, padding="same", activation="relu",
                              dilation_rate=2 ** index if dilate else 1,
                              kernel_initializer=init(11 + index), name=f"mix_{index}")(x)
            x = y if index == 0 else layers.Add()([x, y])
        pattern = layers.Conv2D(
            1, 3, padding="same", use_bias=False, name="pattern",
            kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed + 40))(x)
        params = CentredLevel(init_value, rate=level_rate, name="params")(pattern)
        return keras.Model([*sources, targets], params, name="mask_network")

    return mask_network


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--level-rate", type=float, default=100.0)
    parser.add_argument("--head-depth", type=int, default=1)
    parser.add_argument("--dilate", action="store_true")
    parser.add_argument("--feature-layer", nargs="*", default=["conv2b_relu", "last_conv"])
    args = parser.parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_neuromask.amortised import MaskPredictor
    from keras_neuromask.amortised import network as networks
    from keras_neuromask.evaluation import metrics

    if args.head_depth > 1 or args.dilate:
        networks.mask_network = residual_head(args.head_depth, args.dilate)
    model, train = shapes_training_set(args.images, TRAIN_SEED["shapes"])
    _, images, targets, objects, _, tolerance = load_set(
        SimpleNamespace(set="shapes", images=100, seed=0, model=None))
    keras.utils.set_random_seed(0)
    predictor = MaskPredictor(model, feature_layer=args.feature_layer, width=args.width,
                              level_rate=args.level_rate, batch_size=32)
    predictor.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.perf_counter()
    history = predictor.fit(train, epochs=args.epochs, verbose=0).history["loss"]
    seconds = time.perf_counter() - start
    x, t = tf.constant(images), tf.constant(np.asarray(targets, np.int64))
    objective = predictor.objective
    params = predictor.predict_params(x, t)
    terms = objective.terms(params, x, objective.baseline(x), t)
    masks = objective.masks(params, tuple(images.shape[1:3]))[..., 0].numpy()
    level = predictor.network.get_layer("params")
    mean = {name: float(tf.reduce_mean(getattr(terms, name)))
            for name in ("loss", "preservation", "sparsity", "smoothness", "target_probability")}
    print(f"{' '.join(sys.argv[1:]) or 'defaults'}: {seconds:.0f} s; training loss "
          f"{history[0]:.3f} -> {history[len(history) // 2]:.3f} -> {history[-1]:.3f}; level "
          f"{float(level.level.numpy()) * level.rate:.2f} | evaluation loss {mean['loss']:.3f} "
          f"(preservation {mean['preservation']:.3f}, sparsity {mean['sparsity']:.3f}, "
          f"smoothness {mean['smoothness']:.3f}), p {mean['target_probability']:.3f} | "
          f"pointing {metrics.pointing_game(masks, objects, tolerance).mean():.3f}, energy "
          f"{metrics.energy(masks, objects).mean():.3f}, area "
          f"{metrics.mask_area(masks).mean():.3f}, max |w| {float(np.abs(params).max()):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
