"""The ``train-predictor`` and ``export-predictor`` commands: train a
:class:`keras_neuromask.MaskPredictor` on a folder of images and export it for TF Serving.

Only ``argparse`` is imported at the top, so ``neuromask --help`` stays fast.
"""

from __future__ import annotations

import sys
import time

COMMANDS = ("train-predictor", "export-predictor")
EXAMPLES = {
    "train-predictor": "example:\n  neuromask train-predictor 'train/*.jpg' --model my_model.keras"
                       " --out predictor.keras --epochs 20",
    "export-predictor": "example:\n  neuromask export-predictor predictor.keras --out "
                        "models/predictor\n  neuromask explain-dataset 'images/*.jpg' "
                        "--model-dir models/predictor/1 --out results",
}


def add_commands(command, model_options) -> None:
    """Adds both commands with ``command(name, help)`` (the parser's factory) and
    ``model_options(parser, steps=...)`` (the shared ``--model`` options)."""
    train = command("train-predictor", "Train a MaskPredictor (one-pass NeuroMask masks) on "
                    "images with NeuroMask's objective; writes a .keras file.")
    train.add_argument("images", nargs="+", metavar="IMAGE",
                       help="image files or glob patterns")
    model_options(train, steps=False)
    train.add_argument("--out", required=True, help="the .keras file to write")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--encoder", choices=("auto", "features", "conv"), default="auto")
    train.add_argument("--feature-layer", help="a layer of the classifier (default: its last "
                       "4-D layer)")
    train.add_argument("--refine-steps", type=int, default=0,
                       help="NeuroMask steps from the prediction, by default")
    export = command("export-predictor", "Export a trained MaskPredictor (.keras) as a TF "
                     "Serving SavedModel with NeuroMask's signatures.")
    export.add_argument("predictor", help="a .keras file written by train-predictor")
    export.add_argument("--out", required=True, help="the model base path")
    export.add_argument("--version", type=int, help="default: the next free version")
    export.add_argument("--overwrite", action="store_true")
    export.add_argument("--refine-steps", type=int,
                        help="NeuroMask steps in the graph (default: the predictor's)")
    export.add_argument("--unsafe", action="store_true",
                        help="allow .keras files with Lambda layers (arbitrary code)")


def run(args) -> int:
    """Runs ``args.command``; returns the exit code."""
    return _train(args) if args.command == "train-predictor" else _export(args)


def _train(args) -> int:
    import glob

    import keras
    import numpy as np

    from keras_neuromask.amortised import MaskPredictor
    from keras_neuromask.cli.commands import loaded_model
    from keras_neuromask.cli.image_io import load_image

    if not args.out.endswith(".keras"):
        raise ValueError(f"Expected --out to end with .keras. Received: {args.out!r}")
    if args.epochs < 1:
        raise ValueError(f"Expected --epochs >= 1. Received: {args.epochs}")
    paths = sorted({p for pattern in args.images for p in (glob.glob(pattern) or [pattern])})
    loaded, preprocess = loaded_model(args)
    images = np.stack([load_image(path, loaded.input_size, loaded.channels).array
                       for path in paths])
    predictor = MaskPredictor(loaded.model, preset=args.preset, encoder=args.encoder,
                              feature_layer=args.feature_layer, preprocess=preprocess,
                              refine_steps=args.refine_steps, seed=args.seed,
                              batch_size=args.batch_size)
    predictor.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.perf_counter()
    history = predictor.fit(images, epochs=args.epochs,
                            verbose=1 if sys.stderr.isatty() else 2)
    seconds = time.perf_counter() - start
    predictor.save(args.out)
    print(f"trained on {len(images)} image(s) in {seconds:.0f} s (final loss "
          f"{history.history['loss'][-1]:.4f}); wrote {args.out}")
    return 0


def _export(args) -> int:
    import keras

    from keras_neuromask.amortised import MaskPredictor
    from keras_neuromask.serving.export import export_saved_model

    predictor = keras.saving.load_model(args.predictor, safe_mode=not args.unsafe)
    if not isinstance(predictor, MaskPredictor):
        raise ValueError(f"Expected a MaskPredictor .keras file. Received: "
                         f"{type(predictor).__name__} in {args.predictor!r}")
    if args.refine_steps is not None:
        if args.refine_steps < 0:
            raise ValueError(f"Expected --refine-steps >= 0. Received: {args.refine_steps}")
        predictor.refine_steps = args.refine_steps
    path = export_saved_model(predictor, args.out, args.version, overwrite=args.overwrite)
    print(f"exported the predictor ({predictor.refine_steps} refinement steps) to {path}")
    return 0
