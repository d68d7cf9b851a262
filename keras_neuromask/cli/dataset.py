"""The ``explain-dataset`` command: a Beam pipeline over every matching image file.

Beam is an optional extra; it is imported first, so a missing extra is reported before
TensorFlow loads. The pipeline itself is :func:`keras_neuromask.serving.beam.explain_dataset`.
"""

from __future__ import annotations

import sys


def run_explain_dataset(args) -> int:
    """Runs the pipeline; returns 0, or 1 when some inputs went to the dead letter."""
    from keras_neuromask.class_names import resolve_class_names
    from keras_neuromask.serving.beam import explain_dataset, export_info, pipeline_options

    if not args.debug:  # TensorFlow's C++ start-up lines stay off the terminal
        from keras_neuromask.cli.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"Expected --workers >= 1. Received: {args.workers}")
    options = pipeline_options(args.runner, args.beam_args, workers=args.workers)
    names = resolve_class_names(args.labels, export_info(args.model_dir).classes)
    run = explain_dataset(args.patterns, args.model_dir, args.out, options=options,
                          batch_size=args.batch_size, overlay=args.overlay,
                          mask_array=None if args.mask_array == "none" else args.mask_array,
                          resize=args.resize, class_names=names)
    print(f"explained {run.explained} image(s): {run.results_path} (page: {run.page_path})")
    if run.dead_letter:
        print(f"neuromask: {run.dead_letter} input(s) not explained: {run.dead_letter_path}",
              file=sys.stderr)
    return 1 if run.dead_letter else 0
