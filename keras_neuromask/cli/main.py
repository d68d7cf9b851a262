"""The ``neuromask`` command line: parsing, dispatch and one-line errors.

Each command's work lives in its own module (:mod:`cli_explain`, :mod:`demo`, ...); this file
only parses arguments and turns user mistakes into ``neuromask: error: ...`` with exit code 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys

from keras_neuromask.cli import predictor as predictor_commands
from keras_neuromask.framing import DEFAULT_RESIZE, RESIZE_MODES
from keras_neuromask.presets import PRESETS

_EXAMPLES = {
    "explain": "example:\n  neuromask explain cat.jpg dog.png"
               " --model keras.applications.MobileNetV2 --steps 200 --out explanations",
    "compare": "example:\n  neuromask compare cat.jpg --model my_model.keras --out comparison",
    "export": "example:\n  neuromask export --model my_model.keras --out models/neuromask"
              " --steps 200\n  tensorflow_model_server --rest_api_port=8501"
              " --model_name=neuromask --model_base_path=$PWD/models/neuromask",
    "explain-dataset": "example:\n  neuromask explain-dataset 'images/*.jpg' --model-dir"
                       " models/neuromask/1 --out results\n  neuromask explain-dataset"
                       " 'gs://bucket/images/*.jpg' --model-dir gs://bucket/models/neuromask/1"
                       " --out gs://bucket/results --runner DataflowRunner --project=P"
                       " --region=R --temp_location=gs://bucket/tmp",
    "demo": "example:\n  neuromask demo --out neuromask-demo",
    "bench": "example:\n  neuromask bench --quick",
    **predictor_commands.EXAMPLES,
}


def _model_options(parser: argparse.ArgumentParser, steps: bool = True) -> None:
    parser.add_argument("--model", required=True,
                        help="a .keras or .h5 file, a SavedModel folder, or "
                             "keras.applications.NAME")
    parser.add_argument("--weights", default="imagenet",
                        help="for keras.applications: 'imagenet' (downloaded by Keras when "
                             "online), 'none' (random, offline) or a weights file")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow .keras files with Lambda layers (arbitrary code)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"),
                        help="input size for models without a fixed one")
    parser.add_argument("--input-range", choices=("0-255", "0-1", "-1-1"), default="0-255",
                        help="pixel values the model expects when it has no preprocessing "
                             "of its own (default 0-255)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    if steps:
        parser.add_argument("--steps", type=int, help="optimisation steps (default: preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)


def _image_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", metavar="FILE",
                        help="class names: one a line, or a JSON list or dict; default: the "
                             "ImageNet names for a model with 1000 outputs; 'none': no names")
    parser.add_argument("--resize", choices=RESIZE_MODES, default=DEFAULT_RESIZE,
                        help="how a photo is fitted to the model's input: crop (default: the "
                             "centred box of the input's shape), pad (letterbox) or squash")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="neuromask", description="Explain image classifiers with NeuroMask.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(_EXAMPLES.values()))
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and TensorFlow's start-up log")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog=_EXAMPLES[name],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks and TensorFlow's start-up log")
        return sub

    explain = command("explain", "Explain each image: overlay PNG, mask PNG/.npy, summary.json, "
                      "index.html.")
    explain.add_argument("images", nargs="+", metavar="IMAGE")
    _model_options(explain)
    _image_options(explain)
    explain.add_argument("--target", type=int, help="class to explain (default: predicted)")
    explain.add_argument("--out", default="neuromask-out", help="output folder")

    compare = command("compare", "NeuroMask against every tf-keras-vis method and RISE.")
    compare.add_argument("images", nargs="+", metavar="IMAGE")
    _model_options(compare)
    _image_options(compare)
    compare.add_argument("--target", type=int)
    compare.add_argument("--methods", help="comma-separated subset (default: all)")
    compare.add_argument("--out", default="neuromask-compare")

    export = command("export", "Export the explainer as a TF Serving SavedModel.")
    _model_options(export)
    export.add_argument("--out", required=True, help="the model base path")
    export.add_argument("--version", type=int, help="default: the next free version")
    export.add_argument("--overwrite", action="store_true")

    dataset = command("explain-dataset", "Explain every matching image file with Apache Beam "
                      "and an exported SavedModel (pip install \"keras-neuromask[beam]\"); "
                      "Beam options go as --name=value or after --.")
    dataset.add_argument("patterns", nargs="+", metavar="PATTERN",
                         help="image files or glob patterns (quote them: 'images/*.jpg')")
    dataset.add_argument("--model-dir", required=True,
                         help="an exported version folder, e.g. models/neuromask/1")
    dataset.add_argument("--out", required=True, help="output folder (or gs://... etc.)")
    dataset.add_argument("--runner", default="DirectRunner",
                         choices=("DirectRunner", "FlinkRunner", "SparkRunner", "DataflowRunner"))
    dataset.add_argument("--workers", type=int,
                         help="DirectRunner worker processes (default: the CPU count)")
    dataset.add_argument("--batch-size", type=int, default=8)
    dataset.add_argument("--mask-array", choices=("float32", "float16", "none"),
                         default="float32", help="NAME.mask.npy dtype, or none")
    dataset.add_argument("--overlay", action="store_true", help="also write NAME.overlay.png")
    _image_options(dataset)

    demo = command("demo", "Offline demo on the generated benchmark and its small CNN.")
    demo.add_argument("--out", default="neuromask-demo")
    demo.add_argument("--images", type=int, default=8, help="images to explain")
    demo.add_argument("--steps", type=int, help="optimisation steps (default: preset's)")
    demo.add_argument("--labels", metavar="FILE",
                      help="names of the benchmark's 5 classes (default: its shape names)")

    bench = command("bench", "Speed benchmark: explainer step vs the model's own cost.")
    bench.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    bench.add_argument("--models", default="cifar,mobilenet", help="cifar,mobilenet")
    bench.add_argument("--batches", default="1,8,16")
    predictor_commands.add_commands(command, _model_options)
    return parser


def main(argv=None) -> int:
    """Runs the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    after = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv[:after])
    if args.command != "explain-dataset" and (unknown or after < len(argv)):
        parser.error(f"unrecognized arguments: {' '.join(unknown or argv[after:])}")
    if args.command == "explain-dataset":
        bare = [a for a in unknown if not (a.startswith("--") and "=" in a)]
        if bare:  # '--project p' would make 'p' a pattern
            parser.error(f"Expected Beam options as --name=value, or after '--'. Received: "
                         f"{' '.join(bare)}")
        args.beam_args = unknown + argv[after + 1:]
    if args.command != "explain-dataset":  # that one: after Beam's check
        if not args.debug:
            from keras_neuromask.cli.quiet import import_tensorflow_quietly

            import_tensorflow_quietly()
        from keras_neuromask.repeatable import enable_repeatable_masks

        try:  # the same masks for the same files, run after run
            enable_repeatable_masks()
        except RuntimeError:  # main() called in a process whose TensorFlow already runs ops
            pass
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("neuromask: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, FloatingPointError, ImportError) as error:
        if args.debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(f"neuromask: error: {message}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "explain":
        from keras_neuromask.cli.commands import run_explain
        return run_explain(args)
    if args.command == "compare":
        from keras_neuromask.cli.commands import run_compare
        return run_compare(args)
    if args.command == "export":
        from keras_neuromask.cli.commands import run_export
        return run_export(args)
    if args.command == "explain-dataset":
        from keras_neuromask.cli.dataset import run_explain_dataset
        return run_explain_dataset(args)
    if args.command in predictor_commands.COMMANDS:
        return predictor_commands.run(args)
    if args.command == "demo":
        from keras_neuromask.cli.demo import run_demo
        return run_demo(args.out, images=args.images, steps=args.steps, labels=args.labels)
    from keras_neuromask.bench import speed as bench

    result = bench.run(args.models.split(","), [int(b) for b in args.batches.split(",")],
                       quick=args.quick, log=lambda line: print(line, file=sys.stderr))
    print(bench.table(result) + "\n\n" + bench.targets_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
