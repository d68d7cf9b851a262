"""The quality report on real photos with a real ImageNet classifier (EfficientNet-Lite1).

Uses ``../shared/models/efficientnet_lite1.keras`` (input RGB in [0, 255], logits out) when it
is present, and the photos that ship inside scikit-image, matplotlib and scikit-learn
(``pip install -e '.[benchmark]'``), center-cropped and resized to 240x240. Runs
NeuroMask (default, deletion and paper-imagenet presets), every tf-keras-vis method and RISE, scores
deletion, insertion, area and seconds per image (no ground truth here), and writes
comparison.md / .json / .png into ``--out``. Skips with a message when the model is missing.

Usage: python scripts/natural_report.py [--model PATH] [--out docs/natural] [--rise-masks 4000]
    [--methods NAME,NAME] [--configs '{"name": {NeuroMask keywords}}']

``--configs`` adds NeuroMask runs with the default preset's keywords changed (rows
``neuromask (name)``), for tuning the default on photos.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models",
                             "efficientnet_lite1.keras")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default="docs/natural")
    parser.add_argument("--rise-masks", type=int, default=4000)
    parser.add_argument("--methods", help="comma-separated subset of the report's methods")
    parser.add_argument("--configs", help="JSON: name -> NeuroMask keywords, added as rows")
    args = parser.parse_args()
    if not os.path.exists(args.model):
        print(f"skipped: no classifier at {args.model} (it lives in the project's shared/ "
              "folder, not in the package)")
        return 0
    import keras

    from keras_neuromask.evaluation.compare import get_method
    from keras_neuromask.evaluation.photo_composites import square_photos
    from keras_neuromask.evaluation.report import (
        default_methods,
        evaluate,
        markdown_table,
        write_report,
    )

    start = time.perf_counter()
    model = keras.saving.load_model(args.model)
    names, images = square_photos(240)
    methods = default_methods(presets=("deletion", "paper-imagenet"))
    methods["rise"] = get_method("rise", num_masks=args.rise_masks)
    if args.methods:
        methods = {name: methods[name] for name in args.methods.split(",")}
    for name, options in json.loads(args.configs or "{}").items():
        methods[f"neuromask ({name})"] = get_method("neuromask", **options)
    rows, maps = evaluate(model, images, methods, progress=lambda line: print(line, flush=True))
    write_report(args.out, rows, maps, images, titles=names, grid_rows=len(names),
                 extra={"photos": names, "model": os.path.basename(args.model)})
    print(markdown_table(rows))
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
