"""Retrains the demo's shapes CNN with the package's recipe and writes the shipped file.

Trains `small_cnn` exactly as ``trained_shapes_cnn(use_shipped=False)`` does with the shipped
settings (``keras_neuromask.evaluation.datasets.SHIPPED_SETTINGS``, seed 0 unless ``--seed``),
measures its accuracy on a held-out draw of `make_shapes` (a seed no training epoch used),
and saves the model without optimizer state, ready for ``load_model(safe_mode=True)``. It
prints the lines that go into the provenance of ``shipped_shapes_cnn``'s docstring.

Usage: python scripts/train_shapes_cnn.py [--seed 0]
       [--out keras_neuromask/evaluation/data/shapes_cnn.keras] [--test-images 2000]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_neuromask.evaluation import datasets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "keras_neuromask", "evaluation", "data",
                           datasets.SHIPPED_FILE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=datasets.SHIPPED_SETTINGS["seed"])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--test-seed", type=int, default=datasets.HELD_OUT_SEED)
    args = parser.parse_args(argv)
    settings = {k: v for k, v in datasets.SHIPPED_SETTINGS.items() if k != "version"}
    settings["seed"] = args.seed
    used = datasets.training_data_seeds(args.seed, settings["epochs"])
    if args.test_seed in used or args.test_seed == args.seed:
        parser.error(f"--test-seed {args.test_seed} is a training seed; choose another")

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        model = datasets.trained_shapes_cnn(cache, use_shipped=False, verbose=2, **settings)
    seconds = time.perf_counter() - start

    # A fresh uncompiled copy: weights (BatchNorm statistics included) and nothing else.
    shipped = datasets.small_cnn((settings["size"], settings["size"], 3),
                                 settings["num_classes"])
    shipped.set_weights(model.get_weights())
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    shipped.save(out)
    reloaded = keras.saving.load_model(out, compile=False, safe_mode=True)
    test = datasets.make_shapes(args.test_images, seed=args.test_seed,
                                size=settings["size"], num_classes=settings["num_classes"])
    accuracy = datasets.shapes_accuracy(reloaded, test)

    command = "python scripts/train_shapes_cnn.py" + "".join(f" {a}" for a in sys.argv[1:])
    print(f"command:  {command}")
    print(f"settings: {settings}")
    print(f"trained:  {seconds:.0f} s on {os.cpu_count()} CPU cores, {platform.machine()}, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{datetime.date.today().isoformat()}")
    print(f"held-out: {accuracy:.4f} accuracy on make_shapes({args.test_images}, "
          f"seed={args.test_seed})")
    print(f"file:     {out} ({os.path.getsize(out) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
