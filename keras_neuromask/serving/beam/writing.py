"""``WriteExplanations``: one results file set per run, and the files of each image.

In the output folder (local, or any Beam file system such as ``gs://``):

- ``results.jsonl``: one JSON object per explained image, sorted by name: ``name``,
  ``target``, ``class_name`` (null without names), ``original_probability``,
  ``masked_probability``, ``mask_area``, ``steps``, ``outputs`` (file names, relative to the
  folder) and ``framing`` (how the photo was fitted to the model's input);
- ``dead_letter.jsonl``: one object per input that was not explained, sorted: ``name``,
  ``stage``, ``reason`` (written, empty, when there is none, so a re-run leaves no stale one);
- per image, as ``neuromask explain`` names them: ``NAME.mask.png`` (8-bit), ``NAME.mask.npy``
  (when the results carry the array), both on the photo's own pixels, and
  ``NAME.overlay.png`` (when asked). ``NAME`` is
  :func:`keras_neuromask.results.outputs.plan_outputs` applied to every input name of the run
  (explained or not) in sorted order: a/cat.png and b/cat.png give cat.* and cat-2.*, the
  same on every run and never an input file's name;
- ``index.html`` (:func:`write_dataset_page`, after the pipeline): the results as one page,
  each image's overlay (or its mask) shown from the file next to it.

JSON lines rather than Parquet: the table is small once the masks live in their own files
(about 260 bytes per image), any tool reads it line by line without pyarrow, and sorted lines
with Python's shortest float repr make the same run give the same bytes. Every file is
written whole (a temporary file renamed on local disks; object stores publish whole
objects), so a retried bundle rewrites the same files and a reader never sees half of one.
"""

from __future__ import annotations

import io
import json
import math

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from keras_neuromask.results.outputs import atomic_write, plan_outputs

RESULTS_FILE = "results.jsonl"
DEAD_LETTER_FILE = "dead_letter.jsonl"
PAGE_FILE = "index.html"
SUFFIXES = (".overlay.png", ".mask.png", ".mask.npy")  # neuromask explain's, in its order


def write_bytes(path: str, data: bytes) -> str:
    """Writes ``data`` to ``path`` whole: local files atomically, others by the file system."""
    if FileSystems.get_scheme(path) in (None, "file"):
        atomic_write(path.removeprefix("file://"), lambda f: f.write(data))
    else:
        with FileSystems.create(path, mime_type="application/octet-stream",
                                compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(data)
    return path


def output_stems(names, out: str) -> dict[str, str]:
    """``{input name: output stem}`` for every name of a run, decided in sorted order."""
    names = sorted(set(names))
    plans = plan_outputs(out, names, SUFFIXES,
                         reserved=(RESULTS_FILE, DEAD_LETTER_FILE, PAGE_FILE))
    suffix = SUFFIXES[1]
    return {name: plan[suffix].name[:-len(suffix)] for name, plan in zip(names, plans)}


def _number(value):
    return None if value is None or not math.isfinite(value) else float(value)


class _WriteImage(beam.DoFn):
    """Writes one result's files; yields ``(name, its JSON line)``."""

    def __init__(self, out: str):
        self.out = out

    def process(self, result, stems):
        stem = stems[result.name]
        files = {}
        if result.overlay_png is not None:
            files["overlay"] = (stem + SUFFIXES[0], result.overlay_png)
        if result.mask_png is not None:
            files["mask_png"] = (stem + SUFFIXES[1], result.mask_png)
        if result.mask is not None:
            buffer = io.BytesIO()
            np.save(buffer, result.mask, allow_pickle=False)
            files["mask_npy"] = (stem + SUFFIXES[2], buffer.getvalue())
        for file_name, data in files.values():
            write_bytes(FileSystems.join(self.out, file_name), data)
        record = {"name": result.name, "target": int(result.target),
                  "class_name": result.class_name,
                  "original_probability": _number(result.original_probability),
                  "masked_probability": _number(result.masked_probability),
                  "mask_area": _number(result.mask_area),
                  "steps": None if result.steps is None else int(result.steps),
                  "outputs": {kind: file_name for kind, (file_name, _) in files.items()}}
        if result.framing is not None:
            record["framing"] = result.framing
        yield result.name, json.dumps(record, allow_nan=False)


def _write_sorted(keyed_lines, path: str) -> str:
    lines = [line for _, line in sorted(keyed_lines)]
    return write_bytes(path, "".join(line + "\n" for line in lines).encode("utf-8"))


def _dead_line(dead):
    return (dead.name, dead.stage, dead.reason), json.dumps(
        {"name": dead.name, "stage": dead.stage, "reason": dead.reason})


class WriteExplanations(beam.PTransform):
    """Writes ``(results, dead_letter)`` (as :class:`ExplainImages` gives them) to ``out``.

    Args:
        out: the output folder; files of an earlier run with the same names are replaced.

    Returns:
        A PCollection of the two paths written (``results.jsonl``, ``dead_letter.jsonl``).

    Example:
        >>> outputs = paths | ExplainImages("models/neuromask/1")
        >>> outputs | WriteExplanations("results")
    """

    def __init__(self, out: str):
        super().__init__()
        self.out = str(out)

    def expand(self, outputs):
        results, dead = outputs
        stems = ((results | "Result names" >> beam.Map(lambda r: r.name),
                  dead | "Dead names" >> beam.Map(lambda d: d.name))
                 | "Names" >> beam.Flatten()
                 | "All names" >> beam.combiners.ToList()
                 | "Stems" >> beam.Map(output_stems, out=self.out))
        lines = results | "Write images" >> beam.ParDo(
            _WriteImage(self.out), stems=beam.pvalue.AsSingleton(stems))
        written = (lines
                   | "All lines" >> beam.combiners.ToList()
                   | "Write results" >> beam.Map(
                       _write_sorted, path=FileSystems.join(self.out, RESULTS_FILE)))
        dead_written = (dead
                        | "Dead lines" >> beam.Map(_dead_line)
                        | "All dead lines" >> beam.combiners.ToList()
                        | "Write dead letter" >> beam.Map(
                            _write_sorted, path=FileSystems.join(self.out, DEAD_LETTER_FILE)))
        return (written, dead_written) | "Written" >> beam.Flatten()


def _read_lines(path: str) -> list[dict]:
    with FileSystems.open(path) as handle:
        return [json.loads(line) for line in handle.read().decode("utf-8").splitlines()
                if line.strip()]


def write_dataset_page(out: str, *, facts: dict | None = None) -> str:
    """Writes ``index.html`` of a run from its ``results.jsonl`` and ``dead_letter.jsonl``.

    Each image's row shows its overlay (or, without overlays, its mask) from the file next to
    the page, its class and numbers; inputs that were not explained are listed first.

    Returns:
        The page's path.
    """
    from keras_neuromask.results.index_page import PageRow, Picture, Table, index_html

    rows = []
    for record in _read_lines(FileSystems.join(out, RESULTS_FILE)):
        outputs = record.get("outputs", {})
        pictures = [Picture(kind, outputs[kind]) for kind in ("overlay", "mask_png")
                    if kind in outputs][:1]
        name, target = record.get("class_name"), record["target"]
        rows.append(PageRow(record["name"].rsplit("/", 1)[-1], pictures, {
            "class": f"{name} ({target})" if name else f"class {target}",
            "p(class)": record.get("original_probability"),
            "p(class) masked": record.get("masked_probability"),
            "mask area": record.get("mask_area"), "steps": record.get("steps")}))
    dead = _read_lines(FileSystems.join(out, DEAD_LETTER_FILE))
    tables = [Table(f"Not explained ({len(dead)})", ["input", "stage", "reason"],
                    [[d["name"], d["stage"], d["reason"]] for d in dead])] if dead else []
    text = index_html("neuromask explain-dataset", rows, facts=facts, tables=tables)
    return write_bytes(FileSystems.join(out, PAGE_FILE), text.encode("utf-8"))


__all__ = ["DEAD_LETTER_FILE", "PAGE_FILE", "RESULTS_FILE", "SUFFIXES", "WriteExplanations",
           "output_stems", "write_bytes", "write_dataset_page"]
