"""The ``explain``, ``compare`` and ``export`` commands: files in, files out.

Images are explained in batches; each batch's files are written as soon as it is done, and
``summary.json`` and ``index.html`` are rewritten (atomically) after every batch, so an
interrupted or failing run keeps everything already finished. Photos are fitted to the
model's input by ``--resize`` (a centre crop by default) and every mask is mapped back onto
the photo's own pixels.
"""

from __future__ import annotations

import os
import sys
import time

import keras
import numpy as np

from keras_neuromask.class_names import class_name, resolve_class_names
from keras_neuromask.cli import pages
from keras_neuromask.cli.image_io import load_image
from keras_neuromask.cli.model_io import load_classifier
from keras_neuromask.framing import mask_to_photo
from keras_neuromask.results.index_page import write_index_html
from keras_neuromask.results.outputs import (
    ImageSummary,
    plan_outputs,
    write_mask_npy,
    write_mask_png,
    write_summary_json,
)

_SUFFIXES = (".overlay.png", ".mask.png", ".mask.npy")
_RESERVED = ("summary.json", "index.html")
_SCALES = {"0-255": (1.0, 0.0), "0-1": (1.0 / 255.0, 0.0), "-1-1": (1.0 / 127.5, -1.0)}


class StepProgress(keras.callbacks.Callback):
    """One progress bar across all images and steps of a run."""

    def __init__(self, total_steps: int, verbose: bool = True):
        super().__init__()
        self.bar = keras.utils.Progbar(total_steps, unit_name="step",
                                       verbose=1 if verbose else 0)
        self.done = 0
        self.batch_images = 1

    def on_epoch_end(self, epoch, logs=None):
        self.done += self.params["steps"] * self.batch_images  # Keras: steps per epoch
        self.bar.update(self.done, values=[("p_target", float(
            (logs or {}).get("target_probability", 0.0)))])


def loaded_model(args):
    """The classifier named on the command line and its pixel preprocessing.

    Images are masked in pixel space ([0, 255]); the preprocessing after masking is the
    model's own (``keras.applications``) or the rescaling of ``--input-range``.
    """
    loaded = load_classifier(args.model, weights=args.weights, unsafe=args.unsafe,
                             input_size=tuple(args.size) if args.size else None)
    preprocess = loaded.preprocess
    if preprocess is None and args.input_range != "0-255":
        scale, offset = _SCALES[args.input_range]

        def preprocess(pixels):
            return pixels * scale + offset

    return loaded, preprocess


def run_class_names(args, loaded) -> list[str] | None:
    """The names of the model's classes: ``--labels``, or ImageNet's for 1000 outputs."""
    return resolve_class_names(getattr(args, "labels", None),
                               int(loaded.model.outputs[0].shape[-1]))


def _explainer(args, loaded, preprocess):
    from keras_neuromask import NeuroMask

    return NeuroMask(loaded.model, preset=args.preset, steps=args.steps, seed=args.seed,
                     preprocess=preprocess, batch_size=args.batch_size)


def run_explain(args) -> int:
    """Explains every image; returns 0, or 1 when some images failed (the rest is written)."""
    loaded, preprocess = loaded_model(args)
    names = run_class_names(args, loaded)
    explainer = _explainer(args, loaded, preprocess)
    steps = explainer.settings.checked_steps(size=loaded.input_size)
    plans = plan_outputs(args.out, args.images, _SUFFIXES, reserved=_RESERVED)
    out_dir = plans[0][_SUFFIXES[0]].parent
    summary_path, page_path = out_dir / "summary.json", out_dir / "index.html"
    progress = StepProgress(len(args.images) * steps, verbose=sys.stderr.isatty())
    run = {"model": loaded.name, "preset": args.preset, "steps": steps, "seed": args.seed,
           "target": args.target, "resize": args.resize,
           "labels": "ImageNet (shipped)" if names is not None and args.labels is None else
           args.labels}
    records, rows, failures = [], [], []
    for first in range(0, len(args.images), args.batch_size):
        paths = args.images[first:first + args.batch_size]
        images, kept = [], []
        for index, path in enumerate(paths, start=first):
            try:
                images.append(load_image(path, loaded.input_size, loaded.channels,
                                         resize=args.resize))
                kept.append(index)
            except ValueError as error:
                failures.append({"input_path": str(path), "error": str(error)})
                print(f"neuromask: skipped {path}: {error}", file=sys.stderr)
        if not images:
            continue
        start = time.perf_counter()
        progress.batch_images = len(images)
        result = explainer.explain(np.stack([image.array for image in images]),
                                   targets=args.target, callbacks=[progress])
        seconds = (time.perf_counter() - start) / len(images)
        if progress.bar.verbose:
            print(file=sys.stderr)  # the progress bar's line ends before ours start
        for row, (index, image) in enumerate(zip(kept, images)):
            record = _write_one(image, plans[index], result, row, seconds, names)
            records.append(record)
            rows.append(pages.explain_row(record, image.original, str(out_dir)))
            print(pages.image_line(record), flush=True)
            if record.baseline_keeps_class():
                print(pages.baseline_line(record), flush=True)
        write_summary_json(records, summary_path, run={**run, "failed": failures})
        _write_page(page_path, rows, run, failures)
    if not records:
        write_summary_json([], summary_path, run={**run, "failed": failures})
        _write_page(page_path, rows, run, failures)
    print(f"wrote {len(records)} explanation(s) to {out_dir} (summary: {summary_path}; "
          f"page: {page_path})")
    return 1 if failures else 0


def _write_page(path, rows, run, failures) -> None:
    facts = {key: run[key] for key in ("model", "preset", "steps", "resize")}
    note = f"{len(failures)} image(s) could not be read: " + ", ".join(
        f["input_path"] for f in failures) if failures else ""
    write_index_html(path, "neuromask explain", rows, facts=facts, note=note)


def _write_one(image, plan, result, row, seconds, names) -> ImageSummary:
    from keras_neuromask.results.annotate import explanation_picture, save_picture_png

    mask, target = result.masks[row], int(result.targets[row])
    name = class_name(names, target)
    probability = float(result.original_probability[row])
    picture = explanation_picture(image.original, mask, framing=image.framing,
                                  label=pages.overlay_caption(target, name, probability))
    save_picture_png(picture, plan[".overlay.png"])
    on_photo = mask_to_photo(mask, image.framing)  # the photo's own pixels
    write_mask_png(on_photo, plan[".mask.png"])
    write_mask_npy(on_photo, plan[".mask.npy"])
    return ImageSummary(
        input_path=str(image.path), target=target, original_probability=probability,
        masked_probability=float(result.masked_probability[row]),
        baseline_probability=float(result.baseline_probability[row]),
        mask_area=float(mask.mean()), steps=int(result.steps[row]), seconds=float(seconds),
        outputs={"overlay": str(plan[".overlay.png"]), "mask_png": str(plan[".mask.png"]),
                 "mask_npy": str(plan[".mask.npy"])},
        class_name=name, framing=image.framing.to_json())


def run_export(args) -> int:
    """Exports the explainer in TF Serving's layout and prints the version folder."""
    from keras_neuromask.serving.export import export_saved_model

    loaded, preprocess = loaded_model(args)
    explainer = _explainer(args, loaded, preprocess)
    path = export_saved_model(explainer, args.out, args.version,
                              image_shape=(*loaded.input_size, loaded.channels),
                              overwrite=args.overwrite)
    steps = explainer.settings.checked_steps(size=loaded.input_size)
    print(f"exported {loaded.name} ({args.preset}, {steps} steps) "
          f"to {path}")
    return 0


def run_compare(args) -> int:
    """NeuroMask against every tf-keras-vis method: grid PNG, metrics table, index.html."""
    from keras_neuromask.evaluation.report import (
        class_probabilities,
        comparison_methods,
        evaluate,
        write_report,
    )
    from keras_neuromask.results.annotate import explanation_picture

    loaded, preprocess = loaded_model(args)
    names = run_class_names(args, loaded)
    images = [load_image(path, loaded.input_size, loaded.channels, resize=args.resize)
              for path in args.images]
    arrays = np.stack([image.array for image in images])
    targets, probabilities = class_probabilities(loaded.model, arrays, args.target,
                                                 preprocess=preprocess)
    methods = comparison_methods(args.methods.split(",") if args.methods else None,
                                 preprocess=preprocess, neuromask_options=dict(
                                     preset=args.preset, steps=args.steps, seed=args.seed))
    details = {}
    rows, maps = evaluate(loaded.model, arrays, methods, targets=targets, preprocess=preprocess,
                          progress=None, details=details)
    labels = [class_name(names, t) for t in targets]
    written = write_report(args.out, rows, maps, arrays, titles=[
        pages.overlay_caption(t, n, p) for t, n, p in zip(targets, labels, probabilities)])
    overlays = {method: [explanation_picture(image.original, method_maps[i],
                                             framing=image.framing)
                         for i, image in enumerate(images)]
                for method, method_maps in maps.items()}
    page_rows = pages.compare_rows([os.path.basename(p) for p in args.images],
                                   [image.original for image in images], overlays, details,
                                   targets, labels, probabilities)
    written["page"] = write_index_html(
        os.path.join(args.out, "index.html"), "neuromask compare", page_rows,
        facts={"model": loaded.name, "preset": args.preset, "resize": args.resize},
        tables=[pages.metrics_table(rows)])
    for path, target, label, probability in zip(args.images, targets, labels, probabilities):
        print(f"{os.path.basename(path)}: {pages.class_label(target, label)}, "
              f"p {probability:.3f}")
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0
