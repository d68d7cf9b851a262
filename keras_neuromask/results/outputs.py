"""Where results go on disk, and the writers that put them there.

Output names come from input file names, so they are treated as untrusted text:
- only the last path component is kept, its extension dropped, and every character that is not
  a letter, digit, '-', '_' or '.' becomes '_' (no '/', '\\', NUL, control characters); leading
  dots, dashes and underscores are removed (no hidden files, no "..", nothing that looks like an
  option); Windows device names (CON, NUL, ...) get a '_' prefix; an empty result is "image";
- the path is `out_dir / (stem + suffix)` and is checked to lie directly in `out_dir`;
- a name already handed out in this run (`taken`, compared case-insensitively) or one that would
  be an input file (`inputs`, compared by real path, case-insensitively) gets "-2", "-3", ...
  appended to its stem, so a/cat.png and b/cat.png give cat.* and cat-2.*;
- every writer writes a temporary file next to the target and `os.replace`s it: a reader never
  sees half a file, and a symbolic link at the target is replaced, never followed.
Files from an earlier run in `out_dir` are overwritten (unless they are inputs).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from keras_neuromask.inputs import as_unit_map

_MAX_STEM = 100
_SUFFIX = re.compile(r"[A-Za-z0-9._-]{0,40}")
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)]
)

PathLike = str | os.PathLike


class ImageSummary(NamedTuple):
    """What the run found for one image, one entry of the JSON summary.

    Attributes:
        input_path: the image file that was explained.
        target: the class explained.
        original_probability: probability of `target` on the unmasked image.
        masked_probability: probability of `target` on the masked image.
        mask_area: mean of the mask, in [0, 1] (the share of the image kept).
        steps: optimisation steps taken.
        seconds: wall time spent on this image.
        outputs: kind of output (e.g. "overlay", "mask_png", "mask_npy") -> path written.
        class_name: the name of `target` (None: no class names known).
        framing: how the photo was fitted to the model's input
            (:meth:`keras_neuromask.framing.Framing.to_json`), or None.
        baseline_probability: probability of `target` on the baseline image alone
            (everything hidden), or None; at least half of `original_probability`: the
            baseline keeps the class (`baseline_keeps_class` in the JSON).
    """

    input_path: str  # the image file explained
    target: int  # class index explained
    original_probability: float  # p(target | image)
    masked_probability: float  # p(target | masked image)
    mask_area: float  # mean(mask) in [0, 1]
    steps: int  # optimisation steps
    seconds: float  # wall time for this image
    outputs: Mapping[str, str]  # kind -> written path
    class_name: str | None = None  # the name of target, when known
    framing: Mapping | None = None  # Framing.to_json(): the part of the photo the model saw
    baseline_probability: float | None = None  # p(target | baseline image)

    def baseline_keeps_class(self) -> bool:
        """Whether the baseline alone keeps the class: p(baseline) >= p(image) / 2."""
        return (self.baseline_probability is not None
                and self.baseline_probability >= 0.5 * self.original_probability)

    def to_json(self) -> dict:
        """The record as JSON types (NaN and infinities become None)."""
        def number(value) -> float | None:
            value = float(value)
            return value if math.isfinite(value) else None

        record = {
            "input_path": os.fspath(self.input_path),
            "target": int(self.target),
            "class_name": None if self.class_name is None else str(self.class_name),
            "original_probability": number(self.original_probability),
            "masked_probability": number(self.masked_probability),
            "mask_area": number(self.mask_area),
            "steps": int(self.steps),
            "seconds": number(self.seconds),
            "outputs": {str(k): os.fspath(v) for k, v in dict(self.outputs).items()},
        }
        if self.baseline_probability is not None:
            record["baseline_probability"] = number(self.baseline_probability)
            record["baseline_keeps_class"] = bool(self.baseline_keeps_class())
        if self.framing is not None:
            record["framing"] = dict(self.framing)
        return record


def sanitize_stem(name: PathLike) -> str:
    """A safe file stem from an untrusted file name or path (see the module docstring).

    Example:
        >>> sanitize_stem("../../etc/passwd"), sanitize_stem("a/b/My cat.PNG")
        ('passwd', 'My_cat')
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"Expected `name` to be a str or os.PathLike. Received: {name!r}")
    text = unicodedata.normalize("NFKC", os.fspath(name)).replace("\\", "/")
    text = text.rstrip("/").rsplit("/", 1)[-1]
    text = os.path.splitext(text)[0]
    text = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
    text = re.sub(r"_+", "_", text).lstrip("._-").rstrip(".")[:_MAX_STEM].rstrip(".")
    if not text:
        return "image"
    if text.split(".")[0].upper() in _WINDOWS_DEVICES:
        text = "_" + text
    return text


def _check_suffix(suffix: str) -> str:
    if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix) or ".." in suffix:
        raise ValueError(
            f"Expected `suffix` of at most 40 characters from [A-Za-z0-9._-] without '..' "
            f"(e.g. '.mask.png'). Received: {suffix!r}"
        )
    return suffix


def _key(path: PathLike) -> str:
    return os.path.realpath(os.fspath(path)).casefold()


def _pick_stem(
    out_dir: Path, stem: str, suffixes: Sequence[str], taken: set[str], inputs: set[str]
) -> str:
    for attempt in range(1, 1_000_000):
        candidate = stem if attempt == 1 else f"{stem}-{attempt}"
        names = [candidate + suffix for suffix in suffixes]
        if all(
            n.casefold() not in taken and _key(out_dir / n) not in inputs for n in names
        ):
            taken.update(n.casefold() for n in names)
            return candidate
    raise ValueError(f"Expected a free output name. Received: {stem!r} (all taken)")


def _resolved_dir(out_dir: PathLike) -> Path:
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"Expected `out_dir` to be a str or os.PathLike. Received: {out_dir!r}")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"Expected `out_dir` to be a folder. Received: {out_dir!r} (a file)")
    return Path(os.path.realpath(os.fspath(out_dir)))


def safe_output_path(
    out_dir: PathLike,
    name: PathLike,
    suffix: str,
    *,
    taken: set[str] | None = None,
    inputs: Iterable[PathLike] = (),
) -> Path:
    """A path for an output derived from `name`, inside `out_dir`, safe to write.

    Args:
        out_dir: the output folder (need not exist yet).
        name: an input file name or path; only its sanitised stem is used.
        suffix: appended to the stem, e.g. ".mask.png"; characters from [A-Za-z0-9._-].
        taken: names already handed out in this run; the new name is added to it. Pass the same
            set to every call of a run to de-duplicate stems.
        inputs: the run's input files; the result never resolves to one of them.

    Returns:
        `out_dir / (stem + suffix)` (resolved), with "-2", "-3", ... appended to the stem if
        needed.

    Example:
        >>> taken = set()
        >>> safe_output_path("out", "a/cat.png", ".mask.png", taken=taken).name
        'cat.mask.png'
        >>> safe_output_path("out", "b/cat.png", ".mask.png", taken=taken).name
        'cat-2.mask.png'
    """
    directory = _resolved_dir(out_dir)
    stem = _pick_stem(
        directory,
        sanitize_stem(name),
        [_check_suffix(suffix)],
        set() if taken is None else taken,
        {_key(p) for p in inputs},
    )
    path = directory / f"{stem}{suffix}"
    if path.parent != directory or path.name in ("", ".", ".."):  # defence in depth
        raise ValueError(f"Expected an output path inside {directory}. Received: {path}")
    return path


def plan_outputs(
    out_dir: PathLike,
    inputs: Sequence[PathLike],
    suffixes: Sequence[str],
    *,
    reserved: Iterable[str] = (),
) -> list[dict[str, Path]]:
    """Output paths for every input at once, one stem per input shared by all its suffixes.

    Args:
        out_dir: the output folder.
        inputs: the input files, in order.
        suffixes: one per output kind, e.g. (".overlay.png", ".mask.png", ".mask.npy").
        reserved: file names in `out_dir` the run writes itself (e.g. "summary.json").

    Returns:
        For each input, a dict suffix -> path, all distinct, inside `out_dir`, none an input.

    Example:
        >>> plans = plan_outputs("out", ["a/cat.png", "b/cat.png"], [".mask.png", ".mask.npy"])
        >>> [p[".mask.npy"].name for p in plans]
        ['cat.mask.npy', 'cat-2.mask.npy']
    """
    directory = _resolved_dir(out_dir)
    suffixes = [_check_suffix(s) for s in suffixes]
    if len(set(suffixes)) != len(suffixes):
        raise ValueError(f"Expected distinct suffixes. Received: {list(suffixes)!r}")
    taken = {str(n).casefold() for n in reserved}
    input_keys = {_key(p) for p in inputs}
    plans = []
    for input_path in inputs:
        stem = _pick_stem(directory, sanitize_stem(input_path), suffixes, taken, input_keys)
        plans.append({s: directory / f"{stem}{s}" for s in suffixes})
    return plans


def atomic_write(path: PathLike, write: Callable[[object], None]) -> Path:
    """Calls `write(binary_file)` on a temporary file next to `path`, then renames it to `path`.

    The parent folder is created if needed. On error the temporary file is removed and `path`
    is left as it was.
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def mask_png_bytes(mask) -> bytes:
    """A mask (H, W) in [0, 1] as an 8-bit grayscale PNG, pixel = round(255 * mask)."""
    import io

    from PIL import Image

    pixels = np.rint(as_unit_map(mask) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def write_mask_png(mask, path: PathLike) -> Path:
    """Writes :func:`mask_png_bytes` of a mask (H, W) in [0, 1] to ``path`` (atomically)."""
    png = mask_png_bytes(mask)
    return atomic_write(path, lambda f: f.write(png))


def write_mask_npy(mask, path: PathLike) -> Path:
    """Writes a mask (H, W) in [0, 1] as float32 .npy (`np.load` reads it back exactly)."""
    values = as_unit_map(mask)
    return atomic_write(path, lambda f: np.save(f, values, allow_pickle=False))


def write_summary_json(
    records: Iterable[ImageSummary], path: PathLike, *, run: Mapping | None = None
) -> Path:
    """Writes the run's summary: {"version": 1, "run": {...}, "images": [record, ...]}.

    Args:
        records: one `ImageSummary` per image.
        path: the JSON file to write (atomically).
        run: JSON-serialisable facts about the run (model, preset, ...), stored under "run".
    """
    images = []
    for record in records:
        if not isinstance(record, ImageSummary):
            raise TypeError(f"Expected ImageSummary records. Received: {type(record).__name__}")
        images.append(record.to_json())
    document = {"version": 1, "run": dict(run or {}), "images": images}
    text = json.dumps(document, indent=2, allow_nan=False, default=_json_default) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"Expected JSON-serialisable run facts. Received: {type(value).__name__}")
