"""Seconds of the default against preset "pixel" (the former default), side by side.

Explains the same generated 32 px images (one batch) with both presets after a traced warm-up,
alternating the presets ``--repeats`` times, and prints each time and the ratios.

    python scripts/default_vs_pixel_time.py [--images 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from keras_neuromask import NeuroMask
    from keras_neuromask.evaluation.datasets import make_shapes, trained_shapes_cnn

    model = trained_shapes_cnn()
    images = make_shapes(args.images, seed=5).images
    explainers = {name: NeuroMask(model, preset=name) for name in ("default", "pixel")}
    for explainer in explainers.values():
        explainer.explain(images, batch_size=args.images)  # trace once
    seconds = {name: [] for name in explainers}
    for _ in range(args.repeats):
        for name, explainer in explainers.items():
            start = time.perf_counter()
            explainer.explain(images, batch_size=args.images)
            seconds[name].append(time.perf_counter() - start)
    for name, values in seconds.items():
        print(f"{name}: " + ", ".join(f"{v:.2f} s" for v in values))
    ratios = [a / b for a, b in zip(seconds["default"], seconds["pixel"])]
    print("default / pixel: " + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
