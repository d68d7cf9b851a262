"""Images per second through the Beam pipeline (DirectRunner) against in-process ``explain``.

For each model (the shipped shapes CNN, 32x32; MobileNetV2 with random weights, 224x224, no
download) it exports one explainer, writes generated PNG files, and for each image count N:

- in process: reads the N files (``load_image``) and calls ``explain(batch_size=B)`` on a
  fresh explainer (so its tracing is counted, as each pipeline worker traces too);
- pipeline: ``explain_dataset`` over a folder of the same N files, DirectRunner with
  ``--workers`` processes, writing every file of a run (masks as PNG and .npy, results.jsonl).

Both are wall-clock, one run each. With two counts the script also fits
``seconds = fixed + N * per_image`` to each side: the per-image slope is the steady-state
cost, the intercept the start-up (worker processes, imports, model load, tracing).

Usage: python scripts/beam_throughput.py [--models cnn,mobilenet] [--cnn-counts 64,256]
    [--mobilenet-counts 8,32] [--cnn-steps 50] [--mobilenet-steps 10] [--batch 8]
    [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from keras_neuromask import NeuroMask, export_saved_model  # noqa: E402
from keras_neuromask.evaluation.datasets import make_shapes, trained_shapes_cnn  # noqa: E402
from keras_neuromask.image_io import load_image  # noqa: E402
from keras_neuromask.serving.beam import explain_dataset, pipeline_options  # noqa: E402


def _scaled(pixels):
    return pixels / 255.0


def model(name: str):
    """(classifier, preprocess, image size)."""
    if name == "cnn":
        return trained_shapes_cnn(), _scaled, 32
    return (keras.applications.MobileNetV2(weights=None),
            keras.applications.mobilenet_v2.preprocess_input, 224)


def write_images(folder: str, count: int, size: int) -> list[str]:
    os.makedirs(folder)
    pixels = np.rint(make_shapes(count, size=size, seed=7).images * 255).astype(np.uint8)
    paths = [os.path.join(folder, f"img{i:04d}.png") for i in range(count)]
    for path, image in zip(paths, pixels):
        Image.fromarray(image).save(path)
    return paths


def in_process(classifier, preprocess, steps, batch, paths, size):
    start = time.perf_counter()
    images = np.stack([load_image(p, (size, size), 3).array for p in paths])
    masks = NeuroMask(classifier, steps=steps, preprocess=preprocess).explain(
        images, batch_size=batch).masks
    return time.perf_counter() - start, masks


def pipeline(model_dir, paths, folder, batch, workers):
    subset = os.path.join(folder, "in")
    os.makedirs(subset)
    for path in paths:
        os.link(path, os.path.join(subset, os.path.basename(path)))
    out = os.path.join(folder, "out")
    start = time.perf_counter()
    run = explain_dataset([os.path.join(subset, "*.png")], model_dir, out,
                          options=pipeline_options("DirectRunner", workers=workers),
                          batch_size=batch)
    seconds = time.perf_counter() - start
    if run.explained != len(paths) or run.dead_letter:
        raise RuntimeError(f"Expected {len(paths)} images explained. Received: {run}")
    masks = np.stack([np.load(os.path.join(out, os.path.basename(p)[:-4] + ".mask.npy"))
                      for p in paths])
    return seconds, masks


def fit(counts, seconds):
    """(fixed seconds, seconds per image) of a straight line through two or more points."""
    slope, intercept = np.polyfit(np.asarray(counts, float), np.asarray(seconds, float), 1)
    return intercept, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn,mobilenet")
    parser.add_argument("--cnn-counts", default="64,256")
    parser.add_argument("--mobilenet-counts", default="8,32")
    parser.add_argument("--cnn-steps", type=int, default=50)
    parser.add_argument("--mobilenet-steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows, fits = [], []
    with tempfile.TemporaryDirectory() as root:
        for name in args.models.split(","):
            counts = [int(c) for c in getattr(args, f"{name}_counts").split(",")]
            steps = getattr(args, f"{name}_steps")
            classifier, preprocess, size = model(name)
            model_dir = export_saved_model(NeuroMask(classifier, steps=steps,
                                                     preprocess=preprocess),
                                           os.path.join(root, name, "models"))
            paths = write_images(os.path.join(root, name, "images"), max(counts), size)
            local_times, beam_times = [], []
            for count in counts:
                local, expected = in_process(classifier, preprocess, steps, args.batch,
                                             paths[:count], size)
                served, masks = pipeline(model_dir, paths[:count],
                                         os.path.join(root, name, f"n{count}"), args.batch,
                                         args.workers)
                local_times.append(local)
                beam_times.append(served)
                rows.append(f"| {name} {size}x{size} | {steps} | {count} | {local:.1f} | "
                            f"{served:.1f} | {count / local:.2f} | {count / served:.2f} | "
                            f"{served / local:.2f} | {np.abs(masks - expected).max():.1e} |")
            if len(counts) > 1:
                (local_fixed, local_each), (beam_fixed, beam_each) = (
                    fit(counts, local_times), fit(counts, beam_times))
                fits.append(f"| {name} {size}x{size} | {1000 * local_each:.0f} | "
                            f"{1000 * beam_each:.0f} | {beam_each / local_each:.2f} | "
                            f"{local_fixed:.1f} | {beam_fixed:.1f} |")
    print(f"batch {args.batch}, DirectRunner with {args.workers} worker processes\n")
    print("| model | steps | images | in-process (s) | pipeline (s) | in-process images/s "
          "| pipeline images/s | pipeline / in-process | max abs mask difference |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if fits:
        print("\n| model | in-process ms / image | pipeline ms / image | ratio "
              "| in-process fixed (s) | pipeline fixed (s) |")
        print("|---|---:|---:|---:|---:|---:|")
        print("\n".join(fits))


if __name__ == "__main__":
    main()
