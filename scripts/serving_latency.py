"""Served latency against in-process ``explain``: same model, steps and batch, one run.

For each step count it explains a batch in process (after a warm-up call with the same
shapes, so tracing is excluded), exports the same explainer, loads the SavedModel with
``tf.saved_model.load`` (as TF Serving's runtime does), warms it up, and times one request.
Prints a markdown table: steps, in-process seconds, served seconds, their ratio, and the
largest difference between the masks.

Usage: python scripts/serving_latency.py [--steps 50,100,200,300] [--batch 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_neuromask import NeuroMask, export_saved_model  # noqa: E402
from keras_neuromask.evaluation.datasets import make_shapes, small_cnn  # noqa: E402


def median_seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="50,100,200,300")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    classifier = small_cnn((32, 32, 3), 4, seed=0)
    images = make_shapes(args.batch, seed=1).images
    print("| steps | in-process explain (s) | served (s) | served / in-process "
          "| max abs mask difference |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for steps in [int(s) for s in args.steps.split(",")]:
            explainer = NeuroMask(classifier, steps=steps, seed=0)
            explainer.explain(images)  # trace once
            local = median_seconds(lambda: explainer.explain(images), args.repeats)
            expected = explainer.explain(images).masks
            path = export_saved_model(explainer, os.path.join(folder, f"s{steps}"))
            serve = tf.saved_model.load(path).signatures["serving_default"]
            batch = tf.constant(images)
            served_masks = serve(images=batch)["masks"].numpy()  # warm-up
            served = median_seconds(lambda: serve(images=batch), args.repeats)
            difference = float(np.abs(served_masks - expected).max())
            print(f"| {steps} | {local:.3f} | {served:.3f} | {served / local:.2f} "
                  f"| {difference:.1e} |")


if __name__ == "__main__":
    main()
