"""The ``explain-dataset`` command: a Beam pipeline over every matching image file.

Beam is an optional extra; a missing extra is reported before TensorFlow loads. The pipeline
runs with TensorFlow's C++ start-up lines filtered out of stderr, in this process and in Beam's
worker processes (:func:`keras_neuromask.cli.quiet.filtered_stderr`; not with ``--debug``).
The pipeline itself is :func:`keras_neuromask.serving.beam.explain_dataset`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys


def _beam_missing() -> bool:
    try:
        return importlib.util.find_spec("apache_beam") is None
    except (ImportError, ValueError):  # e.g. sys.modules["apache_beam"] is None
        return True


def run_explain_dataset(args) -> int:
    """Runs the pipeline; returns 0, or 1 when some inputs went to the dead letter."""
    if _beam_missing():
        import keras_neuromask.serving.beam  # noqa: F401  (raises: how to install the extra)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"Expected --workers >= 1. Received: {args.workers}")
    from keras_neuromask.cli.quiet import filtered_stderr

    # Beam imports TensorFlow, and so do its worker processes: all their stderr is filtered
    with contextlib.nullcontext() if args.debug else filtered_stderr():
        run = _run(args)
    print(f"explained {run.explained} image(s): {run.results_path} (page: {run.page_path})")
    if run.dead_letter:
        print(f"neuromask: {run.dead_letter} input(s) not explained: {run.dead_letter_path}",
              file=sys.stderr)
    return 1 if run.dead_letter else 0


def _run(args):
    from keras_neuromask.class_names import resolve_class_names
    from keras_neuromask.serving.beam import explain_dataset, export_info, pipeline_options

    options = pipeline_options(args.runner, args.beam_args, workers=args.workers)
    names = resolve_class_names(args.labels, export_info(args.model_dir).classes)
    return explain_dataset(args.patterns, args.model_dir, args.out, options=options,
                           batch_size=args.batch_size, overlay=args.overlay,
                           mask_array=None if args.mask_array == "none" else args.mask_array,
                           resize=args.resize, class_names=names)
