"""The quality report on the generated localisation benchmark (README's comparison table).

Runs NeuroMask (default, deletion and the paper presets), every tf-keras-vis method and RISE on
``--images`` correctly classified test images of the benchmark, scores pointing, energy,
deletion, insertion, area and seconds per image, runs the sanity check (cascading weight
randomisation) on NeuroMask, and writes comparison.md / .json / .png into ``--out``.

Usage: python scripts/benchmark_report.py [--images 200] [--out docs/benchmark]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from tune_default import benchmark_images  # noqa: E402

from keras_neuromask.compare import get_method  # noqa: E402
from keras_neuromask.datasets import SHAPE_NAMES  # noqa: E402
from keras_neuromask.report import default_methods, evaluate, markdown_table, write_report  # noqa: E402,E501
from keras_neuromask.sanity import sanity_check  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--out", default="docs/benchmark")
    parser.add_argument("--sanity-images", type=int, default=16)
    args = parser.parse_args()
    start = time.perf_counter()
    model, images, labels, objects = benchmark_images(args.images)
    methods = default_methods(presets=("deletion", "paper-cifar", "paper-imagenet"))
    rows, maps = evaluate(model, images, methods, targets=labels, object_masks=objects,
                          progress=lambda line: print(line, flush=True))
    neuromask = get_method("neuromask")
    sanity = sanity_check(lambda m, x, t: neuromask(m, x, t).maps, model,
                          images[:args.sanity_images], labels[:args.sanity_images])
    correlations = {f"top {i + 1} layer(s)": float(np.mean(c))
                    for i, c in enumerate(sanity.correlation)}
    write_report(args.out, rows, maps, images, titles=[SHAPE_NAMES[i] for i in labels],
                 extra={"sanity_spearman": correlations, "images": args.images})
    print(markdown_table(rows))
    print("sanity check (NeuroMask, Spearman rank correlation after randomising):")
    for name, value in correlations.items():
        print(f"  {name}: {value:.3f}")
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
