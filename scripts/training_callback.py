"""ExplainDuringTraining on the demo CNN: its overhead on training time, and how the masks move.

Trains the shapes CNN (keras_neuromask.evaluation.datasets.small_cnn, 32x32, 4 classes) from
scratch for ``--epochs`` epochs on generated data, alternately without and with the callback
(every epoch, ``--images`` validation images), ``--repeats`` times each, in this one process;
prints seconds per run and the with/without ratio (median and spread), each epoch's share of
mask mass on the object (``region_share`` against the true object masks) and test accuracy,
and writes a grid of the masks per epoch (``--out``, e.g. docs/training_masks.png).

    python scripts/training_callback.py --out docs/training_masks.png
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", default=None, help="PNG of the masks per epoch")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from keras_neuromask.callbacks import ExplainDuringTraining
    from keras_neuromask.evaluation.datasets import make_shapes, small_cnn
    from keras_neuromask.results.visualize import comparison_grid

    train = make_shapes(args.train_size, size=32, seed=1, num_classes=4)
    test = make_shapes(1000, size=32, seed=2, num_classes=4)
    shown = make_shapes(args.images, size=32, seed=3, num_classes=4)

    def run(with_callback: bool):
        keras.utils.set_random_seed(0)
        model = small_cnn((32, 32, 3), 4, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(2e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        callbacks = []
        if with_callback:
            callbacks = [ExplainDuringTraining((shown.images, shown.labels),
                                               out_dir=tempfile.mkdtemp(),
                                               region=shown.object_masks, steps=args.steps)]
        start = time.perf_counter()
        model.fit(train.images, train.labels, batch_size=32, epochs=args.epochs,
                  shuffle=False, verbose=0, callbacks=callbacks)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(np.argmax(model.predict(test.images, verbose=0), -1)
                                 == test.labels))
        return seconds, accuracy, (callbacks[0] if callbacks else None)

    ratios = []
    for repeat in range(args.repeats):
        plain, plain_accuracy, _ = run(False)
        watched, watched_accuracy, watch = run(True)
        ratios.append(watched / plain)
        print(f"repeat {repeat + 1}: without {plain:.1f} s, with {watched:.1f} s, ratio "
              f"{watched / plain:.2f}; test accuracy {plain_accuracy:.3f} / "
              f"{watched_accuracy:.3f}", flush=True)
    print(f"ratio with/without: median {np.median(ratios):.2f}, range "
          f"{min(ratios):.2f}-{max(ratios):.2f} over {len(ratios)} repeats")
    for explained in watch.explanations:
        print(f"epoch {explained.epoch + 1}: region_share {explained.scalars['region_share']:.3f}"
              f", mask_area {explained.scalars['mask_area']:.3f}, kept_probability "
              f"{explained.scalars['kept_probability']:.3f}")
    if args.out:
        maps = {f"epoch {e.epoch + 1}": e.masks for e in watch.explanations}
        maps["object"] = shown.object_masks.astype(np.float32)
        comparison_grid(shown.images, maps, args.out, cell_size=96)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
