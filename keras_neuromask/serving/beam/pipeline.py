"""``explain_dataset``: the whole pipeline behind ``neuromask explain-dataset``.

File patterns -> matched files -> :class:`ExplainImages` -> :class:`WriteExplanations`, on
any Beam runner. A pattern that matches nothing goes to the dead letter; files this command
wrote into the output folder (``*.mask.png``, ``*.overlay.png``, ``*.mask.npy``,
``results.jsonl``, ``dead_letter.jsonl``, ``index.html``) are never read back as inputs, so a
re-run over ``images/*.png`` with ``--out images`` is idempotent.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from keras_neuromask.framing import DEFAULT_RESIZE
from keras_neuromask.serving.beam.transforms import (
    DEAD_LETTER,
    DeadLetter,
    ExplainImages,
)
from keras_neuromask.serving.beam.writing import (
    DEAD_LETTER_FILE,
    PAGE_FILE,
    RESULTS_FILE,
    SUFFIXES,
    WriteExplanations,
    write_dataset_page,
)

RUNNERS = ("DirectRunner", "FlinkRunner", "SparkRunner", "DataflowRunner")


class DatasetRun(NamedTuple):
    """What :func:`explain_dataset` wrote."""

    explained: int  # lines of results.jsonl
    dead_letter: int  # lines of dead_letter.jsonl
    results_path: str  # <out>/results.jsonl
    dead_letter_path: str  # <out>/dead_letter.jsonl
    page_path: str | None = None  # <out>/index.html


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


class MatchPattern(beam.DoFn):
    """A file pattern -> the files it matches (sorted), or a dead letter when none."""

    def __init__(self, out: str):
        self.out = out.rstrip("/")

    def process(self, pattern):
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception as error:  # each file system raises its own errors
            matched, reason = [], f"{type(error).__name__}: {error}".splitlines()[0]
        else:
            reason = "no file matches it"
        paths = sorted(m.path for m in matched if not self._written_here(m.path))
        if not matched:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(pattern, "read", (
                f"Expected a file or a pattern matching files. Received: {pattern!r} "
                f"({reason})")))
        yield from paths

    def _written_here(self, path: str) -> bool:
        folder = os.path.dirname(os.path.realpath(path) if _is_local(path) else path)
        return folder == self.out and (path.endswith(SUFFIXES) or os.path.basename(path) in (
            RESULTS_FILE, DEAD_LETTER_FILE, PAGE_FILE))


def pipeline_options(runner: str = "DirectRunner", beam_args: Sequence[str] = (),
                     workers: int | None = None) -> PipelineOptions:
    """Beam's options: ``--runner``, then ``beam_args`` as given.

    The DirectRunner runs multi-process by default (``--direct_running_mode
    multi_processing``, ``--direct_num_workers`` = ``workers`` or the CPU count), its worker
    processes logging warnings and errors only (``--default_sdk_harness_log_level WARNING``),
    unless ``beam_args`` set them.
    """
    if runner not in RUNNERS:
        raise ValueError(f"Expected runner in {RUNNERS}. Received: {runner!r}")
    args = [f"--runner={runner}", *beam_args]
    if runner == "DirectRunner":
        if not any(a.startswith("--direct_running_mode") for a in beam_args):
            args.append("--direct_running_mode=multi_processing")
        if not any(a.startswith("--direct_num_workers") for a in beam_args):
            args.append(f"--direct_num_workers={workers or os.cpu_count() or 1}")
        if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
            args.append("--default_sdk_harness_log_level=WARNING")
    return PipelineOptions(args)


def explain_dataset(patterns: Sequence[str], model_dir: str, out: str, *,
                    options: PipelineOptions | None = None, batch_size: int = 8,
                    mask_array: str | None = "float32", overlay: bool = False,
                    resize: str = DEFAULT_RESIZE, class_names=None) -> DatasetRun:
    """Explains every file the patterns match, and writes the run's files to ``out``, then
    its ``index.html``.

    Args:
        patterns: file names or glob patterns (``images/*.jpg``, ``gs://bucket/*.png``).
        model_dir: a version folder written by :func:`keras_neuromask.export_saved_model`.
        out: the output folder (see :mod:`keras_neuromask.serving.beam.writing`).
        options: Beam's pipeline options (default :func:`pipeline_options`()).
        batch_size, mask_array, overlay, resize, class_names: as :class:`ExplainImages`.

    Returns:
        A :class:`DatasetRun`: how many images were explained and dead-lettered.
    """
    if isinstance(patterns, str) or not patterns:
        raise ValueError(f"Expected a non-empty list of file patterns. Received: {patterns!r}")
    local = _is_local(out)
    out = os.path.abspath(out) if local else out  # worker processes may start elsewhere
    patterns = [os.path.abspath(p) if _is_local(p) else p for p in patterns]
    model_dir = os.path.abspath(model_dir) if _is_local(model_dir) else model_dir
    explain = ExplainImages(model_dir, batch_size=batch_size, mask_array=mask_array,
                            overlay=overlay, resize=resize,
                            class_names=class_names)  # checks the export before the pipeline
    if local:
        os.makedirs(out, exist_ok=True)
    match_out = os.path.realpath(out) if local else out
    with beam.Pipeline(options=options or pipeline_options()) as pipeline:
        matched = (pipeline
                   | "Patterns" >> beam.Create(sorted(set(patterns)))
                   | "Match" >> beam.ParDo(MatchPattern(match_out)).with_outputs(
                       DEAD_LETTER, main="files"))
        files = matched.files | "Distinct" >> beam.Distinct()
        explained = files | "Explain" >> explain
        dead = (explained.dead_letter, matched[DEAD_LETTER]) | "All dead" >> beam.Flatten()
        _ = (explained.results, dead) | "Write" >> WriteExplanations(out)
    results_path = FileSystems.join(out, RESULTS_FILE)
    dead_path = FileSystems.join(out, DEAD_LETTER_FILE)
    page = write_dataset_page(out, facts={"model": model_dir, "resize": resize})
    return DatasetRun(_count_lines(results_path), _count_lines(dead_path), results_path,
                      dead_path, page)


def _count_lines(path: str) -> int:
    with FileSystems.open(path) as handle:
        return sum(1 for line in handle.read().splitlines() if line.strip())


__all__ = ["DatasetRun", "MatchPattern", "RUNNERS", "explain_dataset", "pipeline_options"]
