"""The quality report on the generated localisation benchmark (README's comparison table).

Runs NeuroMask (default, deletion and the paper presets), every tf-keras-vis method and RISE on
``--images`` correctly classified test images of the benchmark, scores pointing, energy,
deletion, insertion, area and seconds per image (and, for reference, the ground-truth object
masks as a map: the perfect localiser), runs the sanity check (cascading weight randomisation)
on NeuroMask and every tf-keras-vis method, and writes comparison.md / .json / .png into
``--out``.

Usage: python scripts/benchmark_report.py [--images 200] [--out docs/benchmark]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from tune_default import benchmark_images, print_sanity, sanity_correlations  # noqa: E402

from keras_neuromask.evaluation.datasets import SHAPE_NAMES  # noqa: E402
from keras_neuromask.evaluation.report import (  # noqa: E402
    FixedMaps,
    default_methods,
    evaluate,
    markdown_table,
    write_report,
)

SANITY_METHODS = ("neuromask", "neuromask (deletion)", "saliency", "smoothgrad", "gradcam",
                  "gradcam++", "scorecam", "layercam")  # not RISE or the paper presets: slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--out", default="docs/benchmark")
    parser.add_argument("--sanity-images", type=int, default=16)
    args = parser.parse_args()
    start = time.perf_counter()
    model, images, labels, objects = benchmark_images(args.images)
    methods = default_methods(presets=("deletion", "paper-cifar", "paper-imagenet"))
    methods["object mask (ground truth)"] = FixedMaps(objects)  # the perfect localiser
    rows, maps = evaluate(model, images, methods, targets=labels, object_masks=objects,
                          progress=lambda line: print(line, flush=True))
    count = args.sanity_images
    sanity = {name: sanity_correlations(methods[name], model, images[:count], labels[:count],
                                        objects[:count])
              for name in SANITY_METHODS}
    write_report(args.out, rows, maps, images, titles=[SHAPE_NAMES[i] for i in labels],
                 extra={"sanity_spearman": sanity, "images": args.images})
    print(markdown_table(rows))
    print("\nsanity check: mean Spearman rank correlation of the maps before and after "
          "randomising the top k layers with weights (cascading)")
    print_sanity(sanity, "with_original")
    print("\nthe same maps' mean Spearman rank correlation with the object masks "
          "(unchanged model, then after randomising the top k layers)")
    print_sanity(sanity, "with_object", first="unchanged")
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
