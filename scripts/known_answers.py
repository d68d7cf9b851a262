"""Every method on the models whose answer is known by construction, at several image sizes.

The models (``keras_neuromask.evaluation.known_answers``) read one patch, two patches (AND,
OR) or the global colour. For each model, size and method: the share of the map's mass on the
truth (the patch or patches; ``truth_share``), for the AND model the share of images whose
mask keeps both patches (mean mask >= 0.5 on each; NeuroMask only), and for NeuroMask the
class's probability on the whole image, on the baseline alone and on the masked image, and the
share of images where the baseline keeps the class (``Explanation.baseline_keeps_class``).

Usage: python scripts/known_answers.py [--images 12] [--sizes 32,224] [--out docs/known_answers]
       [--methods neuromask,pixel,...]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_neuromask import NeuroMask  # noqa: E402
from keras_neuromask.evaluation import known_answers as ka  # noqa: E402
from keras_neuromask.evaluation.compare import get_method  # noqa: E402

PRESETS = {"neuromask": "default", "neuromask (pixel)": "pixel",
           "neuromask (deletion)": "deletion", "neuromask (paper-cifar)": "paper-cifar",
           "neuromask (paper-imagenet)": "paper-imagenet"}
OTHERS = ("saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "layercam", "rise")
CAMS = ("gradcam", "gradcam++", "scorecam", "layercam")


def run_neuromask(preset, model, data):
    explainer = NeuroMask(model, preset=preset)
    result = explainer.explain(data.images, data.targets)
    return result.masks, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--sizes", default="32,224")
    parser.add_argument("--methods", default=",".join([*PRESETS, *OTHERS]))
    parser.add_argument("--out", default=None, help="folder for known_answers.md/.json/.png")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows, start = [], time.perf_counter()
    pictures = {}  # size -> (first images, titles, method -> first maps)
    for size in (int(s) for s in args.sizes.split(",")):
        shown, titles, firsts = pictures.setdefault(size, ([], [], {}))
        for kind in ka.KINDS:
            model = ka.known_answer_model(kind, size)
            data = ka.known_answer_images(kind, args.images, size, seed=size)
            shown.append(data.images[0])
            titles.append(kind)
            for name in methods:
                began = time.perf_counter()
                truth = data.truth.any()
                if name in PRESETS:
                    maps, result = run_neuromask(PRESETS[name], model, data)
                else:
                    options = {"layer": "pixels"} if name in CAMS else {}  # the image itself
                    method = get_method(name, **options)
                    maps, result = method(model, data.images, data.targets).maps, None
                row = {"size": size, "model": kind, "method": name,
                       "share": _nan_or(np.mean, ka.truth_share(maps, data.truth), truth),
                       "lowest share": _nan_or(np.min, ka.truth_share(maps, data.truth), truth),
                       "seconds / image": (time.perf_counter() - began) / args.images}
                if result is not None:
                    row.update({"p(image)": float(result.original_probability.mean()),
                                "p(baseline)": float(result.baseline_probability.mean()),
                                "p(masked)": float(result.masked_probability.mean()),
                                "baseline keeps": float(result.baseline_keeps_class().mean()),
                                "area": float(result.masks.mean())})
                    if kind == "two_patches_and":
                        row["both kept"] = float(ka.both_kept(
                            result.masks, ka.patch_slices(size)).mean())
                rows.append(row)
                firsts.setdefault(name, []).append(maps[0])
                print(_line(row), flush=True)
    command = "python scripts/known_answers.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if v is not None)
    print(f"{len(rows)} rows; {time.perf_counter() - start:.0f} s; command: {command}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "known_answers.json"), "w") as file:
            json.dump({"command": command, "rows": rows}, file, indent=1)
        with open(os.path.join(args.out, "known_answers.md"), "w") as file:
            file.write(markdown(rows) + f"\n\n`{command}`\n")
        from keras_neuromask.results.visualize import comparison_grid

        for size, (shown, titles, firsts) in pictures.items():
            comparison_grid(shown, firsts, os.path.join(args.out, f"known_answers_{size}.png"),
                            titles=titles, cell_size=120)


def _nan_or(reduce, shares, has_truth):
    """``reduce(shares)`` with an empty map counted as 0 (nothing on the truth); None
    without truth."""
    return float(reduce(np.nan_to_num(shares, nan=0.0))) if has_truth else None


def _line(row) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in row.items())


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(rows) -> str:
    """One table: methods down, model x size across, the share on the truth in each cell
    (the colour model: the share of images whose baseline keeps the class)."""
    columns = sorted({(r["size"], r["model"]) for r in rows},
                     key=lambda c: (c[0], ka.KINDS.index(c[1])))
    names = list(dict.fromkeys(r["method"] for r in rows))
    head = "| method | " + " | ".join(f"{m} {s}px" for s, m in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for name in names:
        cells = []
        for size, kind in columns:
            found = [r for r in rows if (r["size"], r["model"], r["method"]) ==
                     (size, kind, name)]
            cells.append(_cell(found[0]) if found else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(row) -> str:
    if row["share"] is None:  # the colour model: no region to find
        kept = row.get("baseline keeps")
        return "–" if kept is None else f"baseline keeps {kept:.2f}"
    text = f"{row['share']:.3f}"
    if "both kept" in row:
        text += f" (both {row['both kept']:.2f})"
    return text


if __name__ == "__main__":
    main()
