"""Speed and quality side by side, in one run on one machine: Grad-CAM, LayerCAM, RISE,
NeuroMask configurations, the amortised MaskPredictor and predictor + refinement.

For each set (``--sets shapes,composites``; the images, targets, ground truth and pointing
tolerance of ``readable_report.py``'s sets of the same name) every method first explains one
image (a warm-up: tracing, model copies; not timed), then all images; the scores are
``keras_neuromask.evaluation.report.evaluate``'s (pointing, energy, pieces of the top 10%,
deletion and insertion AUC, area) and the time per image, also as a multiple of Grad-CAM's.
The predictors are ``.keras`` files written by ``train_predictor.py`` (on images disjoint
from these); their training time and image count are read from the ``.json`` beside them.
``--serving`` also times one served request (``tf.saved_model.load`` of the export, warm,
median of 5) of the per-image default and of the predictor, batch 1.

``--neuromask NAME=JSON ...`` sets the NeuroMask rows (default: ``"neuromask (default)={}"``
and ``"neuromask (150 steps from 0)"``, the default until December 2026:
``{\\"init\\": \\"constant\\", \\"steps\\": 150}``). ``--device gpu`` refuses
to run without a GPU; ``--device cpu`` hides any GPU. ``--quick``: tiny sizes, a smoke test.

Usage: python scripts/speed_quality.py --sets shapes,composites --out docs/amortised
       [--shapes-images 100] [--composites-images 30] [--refine-steps 15,30]
       [--rise-masks 500]
       [--shapes-predictor predictors/shapes.keras]
       [--composites-predictor predictors/composites.keras] [--serving] [--device gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # this checkout's package

import numpy as np  # noqa: E402
from readable_report import DEFAULT_MODEL, Chunked, load_set, say_missing  # noqa: E402

NEUROMASK_ROWS = {"neuromask (default)": {},
                  "neuromask (150 steps from 0)": {"init": "constant", "steps": 150}}
PREDICTORS = {"shapes": "predictors/shapes.keras", "composites": "predictors/composites.keras"}


def predictor_method(predictor, refine_steps: int):
    """The predictor as a method of ``keras_neuromask.evaluation.compare`` (its own copy of
    the classifier explains; the scores use the evaluation's)."""
    from keras_neuromask.evaluation.compare import Method

    class PredictorMethod(Method):
        name = "predictor"

        def explain_batch(self, model, batch, targets):
            return predictor.explain(batch, targets, refine_steps=refine_steps).masks

    return PredictorMethod()


def build_methods(args, set_name: str) -> dict:
    """Row name -> method, in the table's order."""
    import keras

    import keras_neuromask.amortised  # noqa: F401  (registers MaskPredictor for load_model)
    from keras_neuromask.evaluation.compare import get_method

    methods = {"gradcam": Chunked(get_method("gradcam"), args.chunk),
               "layercam": Chunked(get_method("layercam"), args.chunk),
               f"rise ({args.rise_masks} masks)": Chunked(
                   get_method("rise", num_masks=args.rise_masks), args.chunk)}
    for row, options in args.neuromask_rows.items():
        methods[row] = get_method("neuromask", **options)
    path = getattr(args, f"{set_name}_predictor")
    if os.path.exists(path):
        predictor = keras.saving.load_model(path)
        methods["predictor"] = predictor_method(predictor, 0)
        for steps in args.refine_steps:
            methods[f"predictor + {steps} steps"] = predictor_method(predictor, steps)
    else:
        print(f"no predictor at {path} (python scripts/train_predictor.py --set {set_name} "
              f"--out {path}); its rows are left out")
    return methods


def serving_latency(model, images, predictor_path: str, options: dict) -> dict:
    """Seconds of one served request (batch 1, warm, median of 5) of NeuroMask (``options``)
    and of the predictor, and the predictor's largest served-vs-in-process mask difference."""
    import keras
    import tensorflow as tf

    import keras_neuromask.amortised  # noqa: F401  (registers MaskPredictor for load_model)
    from keras_neuromask import NeuroMask, export_saved_model

    answers = {}
    image = tf.constant(images[:1])
    with tempfile.TemporaryDirectory() as folder:
        explainers = {"neuromask (default)": NeuroMask(model, **options)}
        if os.path.exists(predictor_path):
            explainers["predictor"] = keras.saving.load_model(predictor_path)
        for name, explainer in explainers.items():
            served = tf.saved_model.load(export_saved_model(explainer, os.path.join(
                folder, name.split()[0]))).signatures["serving_default"]
            masks = served(images=image)["masks"].numpy()  # warm-up
            times = []
            for _ in range(5):
                start = time.perf_counter()
                served(images=image)
                times.append(time.perf_counter() - start)
            answers[name] = {"served_seconds": statistics.median(times)}
            if name == "predictor":
                answers[name]["max_mask_difference"] = float(np.abs(
                    masks - explainer.explain(images[:1]).masks).max())
    return answers


def table(rows, gradcam_seconds: float) -> str:
    lines = ["| method | pointing ↑ | energy ↑ | pieces ↓ | deletion ↓ | insertion ↑ | area | "
             "s / image | × Grad-CAM |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        ratio = row.seconds_per_image / gradcam_seconds if gradcam_seconds else float("nan")
        lines.append(f"| {row.method} | {row.pointing:.3f} | {row.energy:.3f} | "
                     f"{row.pieces:.1f} | {row.deletion:.3f} | {row.insertion:.3f} | "
                     f"{row.area:.3f} | {row.seconds_per_image:.4f} | {ratio:.2f} |")
    return "\n".join(lines)


def run_set(args, set_name: str, command: str) -> int:
    from keras_neuromask.evaluation.report import evaluate, write_report

    count = getattr(args, f"{set_name}_images")
    loaded = load_set(SimpleNamespace(set=set_name, images=count, seed=0, model=args.model))
    if loaded is None:
        return say_missing(args.model)
    model, images, targets, objects, titles, tolerance = loaded
    methods = build_methods(args, set_name)
    start = time.perf_counter()
    rows, maps, details = [], {}, {}
    for name, method in methods.items():
        if args.warmup:
            method(model, images[:1], targets[:1])
        new_rows, new_maps = evaluate(model, images, {name: method}, targets=targets,
                                      object_masks=objects, pointing_tolerance=tolerance,
                                      details=details, progress=lambda line: print(line,
                                                                                  flush=True))
        rows += new_rows
        maps.update(new_maps)
    gradcam = next((r.seconds_per_image for r in rows if r.method == "gradcam"), 0.0)
    predictor_path = getattr(args, f"{set_name}_predictor")
    info_path = os.path.splitext(predictor_path)[0] + ".json"
    training = json.load(open(info_path, encoding="utf-8")) if os.path.exists(
        info_path) else None
    serving = serving_latency(model, images, predictor_path,
                              args.neuromask_rows.get("neuromask (default)", {})
                              ) if args.serving else None
    import tensorflow as tf

    extra = {"set": set_name, "images": len(images), "pointing_tolerance": tolerance,
             "device": [d.name for d in tf.config.list_logical_devices()],
             "wall_seconds": round(time.perf_counter() - start, 1), "command": command,
             "predictor_training": training, "serving": serving, "per_image": details,
             "neuromask_rows": args.neuromask_rows, "refine_steps": args.refine_steps}
    written = write_report(args.out, rows, maps, images, titles=titles, stem=set_name,
                           extra=extra)
    text = table(rows, gradcam)
    if training:
        text += (f"\n\nPredictor: trained on {training['images']} images ({training['epochs']}"
                 f" epochs) in {training['train_seconds']} s (`{training['command']}`).")
    if serving:
        text += "\n\nServed request, batch 1: " + ", ".join(
            f"{name} {value['served_seconds']:.4f} s" for name, value in serving.items())
    with open(written["table"], "w", encoding="utf-8") as file:
        file.write(text + "\n")
    print(text)
    print(f"{set_name}: {len(images)} images; command: {command}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="shapes,composites")
    parser.add_argument("--shapes-images", type=int, default=100)
    parser.add_argument("--composites-images", type=int, default=30)
    parser.add_argument("--shapes-predictor", default=PREDICTORS["shapes"])
    parser.add_argument("--composites-predictor", default=PREDICTORS["composites"])
    parser.add_argument("--neuromask", nargs="*", metavar="NAME=JSON",
                        help="NeuroMask rows: name=JSON of NeuroMask keywords")
    parser.add_argument("--refine-steps", type=lambda text: [int(k) for k in text.split(",")],
                        default=[15], help="comma-separated: one row per count")
    parser.add_argument("--rise-masks", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--serving", action="store_true", help="also time served requests")
    parser.add_argument("--device", choices=("any", "cpu", "gpu"), default="any")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default="docs/amortised")
    args = parser.parse_args()
    rows = dict(NEUROMASK_ROWS)
    if args.neuromask:
        rows = {}
        for pair in args.neuromask:
            name, sep, options = pair.partition("=")
            if not sep:
                parser.error(f"Expected NAME=JSON. Received: {pair!r}")
            rows[name] = json.loads(options)
    args.neuromask_rows = rows
    if args.quick:
        args.shapes_images, args.composites_images = 4, 2
        args.rise_masks, args.refine_steps = 50, [3]
        args.neuromask_rows = {name: {**options, "steps": 25} for name, options in rows.items()}
    import tensorflow as tf

    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    elif args.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        print("speed_quality: error: --device gpu, but TensorFlow sees no GPU", file=sys.stderr)
        return 1
    command = "python " + shlex.join([os.path.relpath(__file__)] + sys.argv[1:])
    for set_name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        if set_name not in ("shapes", "composites"):
            parser.error(f"Expected sets among shapes, composites. Received: {set_name!r}")
        run_set(args, set_name, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
