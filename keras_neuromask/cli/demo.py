"""``neuromask demo``: the whole package on the embedded default, offline.

1. loads the small CNN of the generated localisation benchmark, shipped trained in the
   package (:func:`keras_neuromask.evaluation.datasets.shipped_shapes_cnn`): no training;
2. explains a handful of generated test images with the default preset: overlays (with the
   class name), masks, ``summary.json`` and ``index.html``;
3. compares NeuroMask with every tf-keras-vis method and RISE on them: grid PNG, table and
   ``index.html``;
4. exports the explainer as a TF Serving SavedModel and answers one REST request from it.

It prints one line per stage (no progress bars), then the comparison table and where the
files are.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def run_demo(out_dir: str, *, images: int = 8, steps: int | None = None,
             labels: str | None = None) -> int:
    """Runs the demo into ``out_dir``; returns 0.

    ``labels``: a labels file naming the benchmark's classes (default: its shape names).
    """
    from keras_neuromask import NeuroMask, export_saved_model
    from keras_neuromask.class_names import resolve_class_names
    from keras_neuromask.cli import pages
    from keras_neuromask.evaluation.datasets import SHAPE_NAMES, make_shapes, trained_shapes_cnn
    from keras_neuromask.evaluation.report import (
        default_methods,
        display_images,
        evaluate,
        write_report,
    )
    from keras_neuromask.results.annotate import explanation_picture, save_picture_png
    from keras_neuromask.results.index_page import write_index_html
    from keras_neuromask.results.outputs import ImageSummary, write_summary_json
    from keras_neuromask.serving import rest as serving

    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    print("1/4 the benchmark's small CNN (shipped trained in the package) ...", flush=True)
    model = trained_shapes_cnn(verbose=1 if sys.stdout.isatty() else 2)
    names = resolve_class_names(labels if labels is not None else list(SHAPE_NAMES),
                                len(SHAPE_NAMES))
    data = make_shapes(images, seed=31337)
    explainer = NeuroMask(model, steps=steps)

    print(f"2/4 explaining {images} generated images ...", flush=True)
    result = explainer.explain(data.images)
    explained = os.path.join(out_dir, "explanations")
    os.makedirs(explained, exist_ok=True)
    records, rows = [], []
    pictures = display_images(data.images)
    for i, mask in enumerate(result.masks):
        target, probability = int(result.targets[i]), float(result.original_probability[i])
        stem = os.path.join(explained, f"image{i}-{SHAPE_NAMES[target]}")
        save_picture_png(explanation_picture(pictures[i], mask, label=pages.overlay_caption(
            target, names[target], probability)), stem + ".overlay.png")
        np.save(stem + ".mask.npy", mask)
        records.append(ImageSummary(
            input_path=f"make_shapes(seed=31337)[{i}]", target=target,
            original_probability=probability,
            masked_probability=float(result.masked_probability[i]),
            mask_area=float(mask.mean()), steps=int(result.steps[i]),
            seconds=result.seconds / images,
            outputs={"overlay": stem + ".overlay.png", "mask_npy": stem + ".mask.npy"},
            class_name=names[target]))
        rows.append(pages.explain_row(records[-1], pictures[i], explained))
    run = {"model": "shapes_cnn", "preset": "default", "steps": int(result.steps[0])}
    summary = write_summary_json(records, os.path.join(explained, "summary.json"), run=run)
    explained_page = write_index_html(os.path.join(explained, "index.html"),
                                      "neuromask demo: explanations", rows, facts=run)

    print("3/4 NeuroMask against every tf-keras-vis method and RISE ...", flush=True)
    details = {}
    scores, maps = evaluate(model, data.images, default_methods({"steps": steps}),
                            targets=result.targets, object_masks=data.object_masks,
                            progress=None, details=details)
    titles = [names[label] for label in data.labels]
    compared = os.path.join(out_dir, "comparison")
    report = write_report(compared, scores, maps, data.images, titles=titles)
    overlays = {method: [explanation_picture(pictures[i], method_maps[i])
                         for i in range(images)] for method, method_maps in maps.items()}
    compared_page = write_index_html(
        os.path.join(compared, "index.html"), "neuromask demo: every method", pages.compare_rows(
            [f"image{i}" for i in range(images)], pictures, overlays, details, result.targets,
            [names[t] for t in result.targets], result.original_probability),
        facts={"model": "shapes_cnn"}, tables=[pages.metrics_table(scores)],
        note="The benchmark's true object of each image is known: pointing and energy score "
             "each method's map against it.")

    print("4/4 exporting for TF Serving and answering one request ...", flush=True)
    import tensorflow as tf

    version = export_saved_model(explainer, os.path.join(out_dir, "served_model"),
                                 overwrite=True, version=1)
    body = serving.predict_request(data.images[:2])
    response = serving.answer_locally(tf.saved_model.load(version).signatures, body)
    answer = serving.parse_predict_response(response)
    with open(os.path.join(out_dir, "served_response.json"), "w", encoding="utf-8") as file:
        json.dump(response, file)
    in_process = explainer.explain(data.images[:2]).masks  # the same request, in process
    difference = float(np.abs(answer.masks - in_process).max())

    from keras_neuromask.evaluation.report import markdown_table

    print("\n" + markdown_table(scores))
    print("(neuromask (paper-cifar) is the reference code as it is: on this CNN its mask keeps "
          "the speckle of its random start and its brightest pixel misses the object; on a "
          "model with a known answer it finds it: docs/known_answers.md)")
    print(f"\nexplanations: {explained} (summary: {summary}; page: {explained_page})")
    print(f"comparison:   {report['grid']}, {report['table']} (page: {compared_page})")
    print(f"served model: {version} (one request answered: targets "
          f"{answer.target.tolist()}, max |mask difference| vs in-process {difference:.1e}; "
          f"response in {os.path.join(out_dir, 'served_response.json')})")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
