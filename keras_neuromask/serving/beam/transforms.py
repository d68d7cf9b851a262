"""``ExplainImages``: image files or bytes in, explanations and a dead-letter output out.

The steps, each a Beam transform:

1. *Read*: every element (a file name, or an :class:`ImageInput`) becomes the pixels the
   classifier sees, read as ``neuromask explain`` reads them
   (:func:`keras_neuromask.image_io.decode_image`: any Pillow format, fitted to the export's
   input by ``resize``, a centre crop by default, its channels). An unreadable or corrupt
   file, an array of the wrong shape (arrays are not resized), a NaN or an infinity, or a
   target outside the classes goes to the dead letter with the reason; nothing raises.
2. *Batch*: images are ranked by name and batch ``k`` holds ranks ``[k * B, (k + 1) * B)``.
   The batches are the same on every run and on every runner (Beam's own batching depends on
   bundles), so the masks are too: equal to ``explain(sorted images, batch_size=B)``.
3. *Explain*: ``RunInference`` with :class:`SavedModelExplainHandler`, pre-batched (one model
   per worker process, Beam's metrics); a batch that fails goes to the dead letter.
4. *Format*: each result becomes an :class:`ExplainedImage` with the mask mapped back onto
   the photo's own pixels (:func:`keras_neuromask.framing.mask_to_photo`) as PNG bytes and/or
   an array, the class name when names are given, and the overlay when asked.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from keras_neuromask.framing import DEFAULT_RESIZE, Framing, check_resize, mask_to_photo
from keras_neuromask.image_io import decode_image
from keras_neuromask.results.outputs import mask_png_bytes
from keras_neuromask.serving.beam.handler import (
    ImageExample,
    SavedModelExplainHandler,
    export_info,
)

DEAD_LETTER = "dead_letter"
MASK_ARRAY_DTYPES = ("float32", "float16")


class ImageInput(NamedTuple):
    """One image for :class:`ExplainImages` (a bare ``str`` is ``ImageInput(name=that)``)."""

    name: str  # a unique name; when data is None, the file to read (any Beam file system)
    data: bytes | np.ndarray | None = None  # encoded bytes, or pixels (H, W, C) in [0, 255]
    target: int | None = None  # class to explain; None: the predicted class


class DeadLetter(NamedTuple):
    """An input that could not be explained, and why."""

    name: str  # the input's name (its file name)
    stage: str  # "read" (match, read, decode, check) or "explain"
    reason: str  # the error, "Expected ... Received: ..."


class ExplainedImage(NamedTuple):
    """One explanation, what :class:`ExplainImages` outputs."""

    name: str  # the input's name
    target: int  # the class explained
    original_probability: float  # p(target | image)
    masked_probability: float  # p(target | masked image)
    steps: int | None  # optimisation steps taken
    mask_area: float  # mean of the mask in [0, 1]
    mask_png: bytes | None  # 8-bit grayscale PNG, pixel = round(255 * mask)
    mask: np.ndarray | None  # (h, w) on the photo's pixels, float32 or float16 (as asked)
    overlay_png: bytes | None  # heat map over the picture at its own size, when asked
    class_name: str | None = None  # the name of target, when names are given
    framing: dict | None = None  # Framing.to_json() (None: pixels given as an array)


class _Source(NamedTuple):
    """RunInference's key: the name, and what the overlay is drawn on (None: no overlay)."""

    name: str
    picture: bytes | np.ndarray | None
    framing: Framing | None = None  # how the photo was fitted (None: pixels given as is)


class ReadImage(beam.DoFn):
    """Element -> ``(_Source, ImageExample)``, or a :class:`DeadLetter` on the dead-letter tag."""

    def __init__(self, image_shape, classes: int | None, keep_picture: bool,
                 resize: str = DEFAULT_RESIZE):
        self.image_shape, self.classes, self.keep_picture = tuple(image_shape), classes, \
            keep_picture
        self.resize = check_resize(resize)

    def process(self, element):
        name = element if isinstance(element, str) else getattr(element, "name", None)
        if not isinstance(name, str) or not name:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(repr(element)[:200], "read", (
                f"Expected a file name or an ImageInput with a non-empty name. Received: "
                f"{type(element).__name__}")))
            return
        data, target = (None, None) if isinstance(element, str) else (element.data, element.target)
        try:
            pixels, picture, framing = self._pixels(name, data)
            _check_target(target, self.classes)
        except (ValueError, TypeError, OSError) as error:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(name, "read", _reason(error)))
            return
        yield (_Source(name, picture if self.keep_picture else None, framing),
               ImageExample(pixels, target))

    def _pixels(self, name, data):
        height, width, channels = self.image_shape
        if data is None:
            try:
                with FileSystems.open(name, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    data = f.read()
            except Exception as error:  # each file system raises its own errors
                raise ValueError(f"Expected a readable image file. Received: {name!r} "
                                 f"({type(error).__name__}: {error})") from error
        framing = None
        if isinstance(data, (bytes, bytearray, memoryview)):
            image = decode_image(bytes(data), (height, width), channels, name=name,
                                 resize=self.resize)
            pixels, framing = image.array, image.framing
        elif isinstance(data, np.ndarray):
            if data.shape != self.image_shape or not np.issubdtype(data.dtype, np.number):
                raise ValueError(f"Expected pixels of shape {self.image_shape} (arrays are not "
                                 f"resized). Received: {name!r} of shape {data.shape}, dtype "
                                 f"{data.dtype}")
            pixels = data.astype(np.float32)
        else:
            raise TypeError(f"Expected data as bytes, a numpy array or None. Received: "
                            f"{type(data).__name__} for {name!r}")
        if not np.all(np.isfinite(pixels)):
            raise ValueError(f"Expected finite pixel values. Received: NaN or Inf in {name!r}")
        return pixels, data, framing


def _check_target(target, classes):
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 0 or (
            classes is not None and target >= classes):
        raise ValueError(f"Expected a target in [0, {classes or 'classes'}). Received: "
                         f"{target!r}")


def _reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _batches_by_rank(keyed_examples, batch_size: int):
    """Groups ``(_Source, ImageExample)`` into batches of names ranked ``[k*B, (k+1)*B)``."""
    ranks = (keyed_examples
             | "Names" >> beam.Map(lambda keyed: keyed[0].name)
             | "All names" >> beam.combiners.ToList()
             | "Ranks" >> beam.Map(lambda names: {n: i for i, n in enumerate(sorted(names))}))
    return (keyed_examples
            | "Batch index" >> beam.Map(lambda keyed, ranks: (ranks[keyed[0].name] // batch_size,
                                                              keyed),
                                        ranks=beam.pvalue.AsSingleton(ranks))
            | "Group" >> beam.GroupByKey()
            | "In name order" >> beam.FlatMap(_sorted_batch).with_outputs(DEAD_LETTER,
                                                                          main="batches"))


def _sorted_batch(indexed):
    batch = sorted(indexed[1], key=lambda keyed: keyed[0].name)
    names = [keyed[0].name for keyed in batch]
    repeated = {n for n in names if names.count(n) > 1}
    for name in sorted(repeated):
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(name, "read", (
            f"Expected unique image names. Received: {names.count(name)} images named "
            f"{name!r}")))
    batch = [keyed for keyed in batch if keyed[0].name not in repeated]
    if batch:
        yield batch


class _Format(beam.DoFn):
    def __init__(self, image_shape, mask_png: bool, mask_array: str | None,
                 class_names=None):
        self.image_shape, self.mask_png, self.mask_array = image_shape, mask_png, mask_array
        self.class_names = None if class_names is None else list(class_names)

    def process(self, keyed):
        try:
            yield self._formatted(*keyed)
        except (ValueError, TypeError) as error:  # e.g. a NaN mask from a NaN classifier
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(keyed[0].name, "explain",
                                                                   _reason(error)))

    def _formatted(self, source, prediction):
        result = prediction.inference
        mask = np.asarray(result.mask, np.float32)
        if not (np.all(np.isfinite(mask)) and np.isfinite(result.masked_probability)):
            raise ValueError(f"Expected a finite mask and probability. Received: NaN or Inf "
                             f"for {source.name!r}")
        target = int(result.target)
        name = None
        if self.class_names is not None and 0 <= target < len(self.class_names):
            name = self.class_names[target]
        overlay = None
        if source.picture is not None:
            overlay = self._overlay(source, mask, name, result.original_probability)
        on_photo = mask if source.framing is None else mask_to_photo(mask, source.framing)
        return ExplainedImage(
            name=source.name, target=target,
            original_probability=result.original_probability,
            masked_probability=result.masked_probability, steps=result.steps,
            mask_area=float(mask.mean()),
            mask_png=mask_png_bytes(on_photo) if self.mask_png else None,
            mask=on_photo.astype(self.mask_array) if self.mask_array else None,
            overlay_png=overlay, class_name=name,
            framing=None if source.framing is None else source.framing.to_json())

    def _overlay(self, source, mask, name, probability) -> bytes:
        import io

        from PIL import Image

        from keras_neuromask.results.annotate import explanation_picture

        picture = source.picture
        if not isinstance(picture, np.ndarray):
            height, width, channels = self.image_shape
            picture = decode_image(picture, (height, width), channels,
                                   name=source.name).original
        else:  # pixels given as an array, [0, 255]
            picture = np.clip(np.rint(picture), 0, 255).astype(np.uint8)
            picture = np.repeat(picture, 3, axis=-1) if picture.shape[-1] == 1 else picture
        label = f"{name} {probability:.2f}" if name else None
        drawn = explanation_picture(picture, mask, framing=source.framing, label=label)
        buffer = io.BytesIO()
        Image.fromarray(drawn, mode="RGB").save(buffer, format="PNG")
        return buffer.getvalue()


def _failed_batch(failure):
    batch, error = failure
    for source, _ in batch:
        yield DeadLetter(source.name, "explain", _reason(error))


class ExplainOutputs(NamedTuple):
    """What :class:`ExplainImages` gives: two PCollections."""

    results: beam.PCollection  # ExplainedImage, one per image explained
    dead_letter: beam.PCollection  # DeadLetter, one per input that was not


class ExplainImages(beam.PTransform):
    """File names or :class:`ImageInput` in; :class:`ExplainOutputs` out (see the module).

    Args:
        model_dir: a version folder written by :func:`keras_neuromask.export_saved_model`.
        image_size: ``(H, W)`` images are resized to; default and only accepted value: the
            export's.
        batch_size: images explained together (compare with ``explain(batch_size=...)``).
        mask_png: put the mask as PNG bytes in each result.
        mask_array: ``"float32"`` (exact), ``"float16"`` (half the size, steps of 5e-4) or
            ``None``: the mask as an array in each result.
        overlay: draw the heat map over each picture (at the picture's own size).
        resize: how a photo is fitted to the export's input: "crop" (default), "pad" or
            "squash" (:mod:`keras_neuromask.framing`); masks are mapped back onto the photo.
        class_names: one name per class (the results carry the target's name), or None.

    Example:
        >>> outputs = paths | ExplainImages("models/neuromask/1", batch_size=8)
        >>> outputs.results, outputs.dead_letter
    """

    def __init__(self, model_dir: str, *, image_size=None, batch_size: int = 8,
                 mask_png: bool = True, mask_array: str | None = "float32",
                 overlay: bool = False, resize: str = DEFAULT_RESIZE, class_names=None):
        super().__init__()
        info = export_info(model_dir)
        if image_size is not None and tuple(image_size) != info.image_shape[:2]:
            raise ValueError(f"Expected image_size to be the export's input size "
                             f"{info.image_shape[:2]}. Received: {image_size!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Expected batch_size to be an int >= 1. Received: {batch_size!r}")
        if mask_array not in (*MASK_ARRAY_DTYPES, None):
            raise ValueError(f"Expected mask_array in {MASK_ARRAY_DTYPES} or None. Received: "
                             f"{mask_array!r}")
        self.model_dir, self.info, self.batch_size = model_dir, info, batch_size
        self.mask_png, self.mask_array, self.overlay = bool(mask_png), mask_array, bool(overlay)
        self.resize = check_resize(resize)
        if class_names is not None and (isinstance(class_names, str) or not all(
                isinstance(n, str) for n in class_names)):
            raise ValueError(f"Expected class_names as a list of str. Received: "
                             f"{class_names!r}"[:200])
        self.class_names = None if class_names is None else list(class_names)

    def expand(self, inputs):
        read = inputs | "Read" >> beam.ParDo(ReadImage(
            self.info.image_shape, self.info.classes, self.overlay, self.resize)).with_outputs(
                DEAD_LETTER, main="images")
        batches = _batches_by_rank(read.images, self.batch_size)
        handler = KeyedModelHandler(SavedModelExplainHandler(self.model_dir)).with_no_batching()
        explained, failed = (batches.batches
                             | "Explain" >> RunInference(handler).with_exception_handling())
        results = explained | "Format" >> beam.ParDo(_Format(
            self.info.image_shape, self.mask_png, self.mask_array,
            self.class_names)).with_outputs(
                DEAD_LETTER, main="results")
        failures = failed.failed_inferences | "Failed batches" >> beam.FlatMap(_failed_batch)
        dead = ((read[DEAD_LETTER], batches[DEAD_LETTER], failures, results[DEAD_LETTER])
                | "Dead letter" >> beam.Flatten())
        return ExplainOutputs(results.results, dead)


__all__ = ["DEAD_LETTER", "DeadLetter", "ExplainImages", "ExplainOutputs", "ExplainedImage",
           "ImageInput", "ReadImage"]
