"""Readable masks: every method on real-photo composites, the photos themselves and the shapes.

Sets (``--set``):

* ``composites``: real objects pasted into real scenes (``keras_neuromask.evaluation.
  photo_composites``), kept where EfficientNet-Lite1 ranks the object's class in its top 5,
  which is the class explained; ground truth = the pasted pixels. Pointing tolerance 15 px
  (Zhang et al.'s, on 240 px images).
* ``photos``: the shipped sample photos, centre-cropped to 240 px, explaining the top-1
  class; no ground truth (pieces, deletion, insertion, time only).
* ``shapes``: the generated 32x32 benchmark and its small CNN (``evaluation.datasets``),
  correctly classified test images, the true class; pointing tolerance 1 px.

Methods: NeuroMask (default, and the ``deletion`` preset), Saliency, SmoothGrad, Grad-CAM,
Grad-CAM++, Score-CAM, LayerCAM, RISE; with ground truth also the object masks themselves
(the perfect localiser). Columns: pointing (raw map, no smoothing), energy, connected pieces
of the top 10%, deletion and insertion AUC (RISE protocol), area, seconds per image.

``--neuromask KEY=VALUE ...`` changes the default row's settings (fields of
``keras_neuromask.settings.Settings``, or ``preset=NAME``); ``--deletion KEY=VALUE ...`` the
deletion preset's. Values: ``7,7`` is a tuple, ``none`` None, ``true``/``false`` booleans,
numbers and names as written. Writes ``<set>.md``, ``.csv``, ``.json`` (rows, per-image
scores, the command) and ``.png`` into ``--out`` (``--stem`` renames them), again after each
method, so a long run that is stopped keeps the rows it finished. The EfficientNet sets skip
with a message when ``--model`` is missing.

Usage: python scripts/readable_report.py --set composites --images 60 --out docs/readable
       [--methods neuromask,gradcam] [--neuromask mask_grid=7,7 smoothness_weight=2]
       [--rise-masks 4000] [--scorecam-channels 0] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models",
                             "efficientnet_lite1.keras")
TRUTH = "object mask (ground truth)"
METHODS = ("neuromask", "neuromask (deletion)", "saliency", "smoothgrad", "gradcam", "gradcam++",
           "scorecam", "layercam", "rise", TRUTH)


def say_missing(model: str) -> int:
    """Says that the benchmark classifier is not there (a script then stops with 0)."""
    print(f"skipped: no classifier at {model} (EfficientNet-Lite1 lives in the project's "
          "shared/ folder, not in the package)")
    return 0


def parse_value(text: str):
    """``"7,7"`` -> (7, 7); ``"2"`` -> 2; ``"0.5"`` -> 0.5; ``"none"`` -> None; else text."""
    if "," in text:
        return tuple(parse_value(part) for part in text.split(",") if part)
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_overrides(pairs) -> dict:
    """``["mask_grid=7,7", "steps=300"]`` -> ``{"mask_grid": (7, 7), "steps": 300}``."""
    overrides = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"Expected KEY=VALUE. Received: {pair!r}")
        overrides[key.strip()] = parse_value(value.strip())
    return overrides


def label(name: str, overrides: dict) -> str:
    """The row's name, with its overrides when there are any."""
    if not overrides:
        return name
    changes = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                       for k, v in overrides.items())
    return f"{name} [{changes}]"


class Chunked:
    """A method called on ``size`` images at a time (tf-keras-vis methods take the whole batch
    through the network at once: 60 composites of 240 px went past 10 GB); the maps are the
    same for a method that explains each image on its own, and the seconds are summed."""

    def __init__(self, method, size: int):
        self.method, self.size = method, size

    def __call__(self, model, images, targets=None):
        from keras_neuromask.evaluation.compare import MethodResult

        parts = [self.method(model, images[i:i + self.size],
                             None if targets is None else targets[i:i + self.size])
                 for i in range(0, len(images), self.size)]
        seconds = sum(part.seconds_per_image * len(part.maps) for part in parts)
        maps = np.concatenate([part.maps for part in parts])
        return MethodResult(maps, seconds / len(maps))


def build_methods(chosen, args, has_truth: bool, object_masks=None) -> dict:
    """The methods of the report, by row name, built with the command line's options."""
    from keras_neuromask.evaluation.compare import get_method
    from keras_neuromask.evaluation.report import FixedMaps

    neuromask, deletion = parse_overrides(args.neuromask), parse_overrides(args.deletion)
    makers = {
        "neuromask": lambda: (label("neuromask", neuromask),
                              get_method("neuromask", **neuromask)),
        "neuromask (deletion)": lambda: (label("neuromask (deletion)", deletion),
                                         get_method("neuromask", **{"preset": "deletion",
                                                                    **deletion})),
        "scorecam": lambda: ("scorecam" if not args.scorecam_channels else
                             f"scorecam (top {args.scorecam_channels} channels)",
                             get_method("scorecam", max_N=args.scorecam_channels or None)),
        "rise": lambda: (f"rise ({args.rise_masks} masks)",
                         get_method("rise", num_masks=args.rise_masks)),
        TRUTH: lambda: (TRUTH, FixedMaps(object_masks)),
    }
    methods = {}
    for name in chosen:
        if name == TRUTH and not has_truth:
            continue
        row, method = makers[name]() if name in makers else (name, get_method(name))
        chunked = args.chunk and name not in ("neuromask", "neuromask (deletion)", TRUTH)
        methods[row] = Chunked(method, args.chunk) if chunked else method
    return methods


def load_set(args):
    """``(model, images, targets, object_masks or None, titles, pointing tolerance)``."""
    if args.set == "shapes":
        from tune_default import benchmark_images

        from keras_neuromask.evaluation.datasets import SHAPE_NAMES

        model, images, labels, objects = benchmark_images(args.images, seed=args.seed or 2024)
        return model, images, labels, objects, [SHAPE_NAMES[i] for i in labels], 1
    if not os.path.exists(args.model):
        return None
    import keras

    from keras_neuromask.evaluation.photo_composites import (
        make_photo_composites,
        square_photos,
    )

    model = keras.saving.load_model(args.model)
    if args.set == "photos":
        names, images = square_photos(240)
        images = images[:args.images] if args.images else images
        return model, images, None, None, names[:len(images)], 15
    data = make_photo_composites(model.predict_on_batch, args.images, seed=args.seed)
    titles = [f"{o} / {b}" for o, b in zip(data.objects, data.backgrounds)]
    return model, data.images, data.targets, data.object_masks, titles, 15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("composites", "photos", "shapes"),
                        default="composites")
    parser.add_argument("--images", type=int, default=None,
                        help="composites: 60, photos: all 8, shapes: 200 (by default)")
    parser.add_argument("--methods", help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--neuromask", nargs="*", default=[], metavar="KEY=VALUE",
                        help="settings of the default NeuroMask row")
    parser.add_argument("--deletion", nargs="*", default=[], metavar="KEY=VALUE",
                        help="settings of the deletion-preset row")
    parser.add_argument("--rise-masks", type=int, default=4000)
    parser.add_argument("--scorecam-channels", type=int, default=0,
                        help="Faster Score-CAM: the N channels of largest variance (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="of the composites / shapes")
    parser.add_argument("--tolerance", type=int, help="pointing tolerance in pixels")
    parser.add_argument("--chunk", type=int, default=8,
                        help="images per call of the other methods than NeuroMask (0: all)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default="docs/readable")
    parser.add_argument("--stem", help="file names in --out (default: the set's name)")
    parser.add_argument("--grid-rows", type=int, default=8)
    args = parser.parse_args()
    if args.images is None:
        args.images = {"composites": 60, "photos": 0, "shapes": 200}[args.set]
    chosen = METHODS if not args.methods else [m.strip() for m in args.methods.split(",")]
    unknown = sorted(set(chosen) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose among {', '.join(METHODS)}")
    start = time.perf_counter()
    loaded = load_set(args)
    if loaded is None:
        return say_missing(args.model)
    model, images, targets, objects, titles, tolerance = loaded
    tolerance = tolerance if args.tolerance is None else args.tolerance
    from keras_neuromask.evaluation.report import evaluate, markdown_table, write_report

    methods = build_methods(chosen, args, objects is not None, objects)
    rows, maps, details = [], {}, {}
    for name, method in methods.items():  # the files are rewritten after every method
        new_rows, new_maps = evaluate(model, images, {name: method}, targets=targets,
                                      object_masks=objects, pointing_tolerance=tolerance,
                                      details=details,
                                      progress=lambda line: print(line, flush=True))
        rows += new_rows
        maps.update(new_maps)
        seconds = time.perf_counter() - start
        command = "python " + shlex.join([os.path.relpath(__file__)] + sys.argv[1:])
        write_report(args.out, rows, maps, images, titles=titles, grid_rows=args.grid_rows,
                     stem=args.stem or args.set,
                     extra={"set": args.set, "images": len(images),
                            "pointing_tolerance": tolerance, "command": command,
                            "wall_seconds": round(seconds, 1), "titles": titles,
                            "targets": None if targets is None else [int(t) for t in targets],
                            "per_image": details})
    print(markdown_table(rows))
    print(f"{len(images)} images; wall time {seconds:.0f} s; command: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
