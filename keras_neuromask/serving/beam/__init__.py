"""Explaining whole data sets with Apache Beam (``pip install "keras-neuromask[beam]"``).

A Beam ``ModelHandler`` over an exported SavedModel (``handler``), the ``ExplainImages``
transform from image files or bytes to explanations and a dead-letter output
(``transforms``), the writer of a run's files (``writing``) and the pipeline behind
``neuromask explain-dataset`` (``pipeline``). The rest of the package never imports Beam.
"""

try:
    import apache_beam  # noqa: F401
except ImportError as error:  # the optional extra is missing
    raise ImportError('Expected apache-beam for keras_neuromask.serving.beam (pip install '
                      f'"keras-neuromask[beam]"). Received: {error}') from error

from keras_neuromask.serving.beam.handler import (
    ExportInfo,
    ImageExample,
    MaskResult,
    SavedModelExplainHandler,
    export_info,
)
from keras_neuromask.serving.beam.pipeline import DatasetRun, explain_dataset, pipeline_options
from keras_neuromask.serving.beam.transforms import (
    DeadLetter,
    ExplainedImage,
    ExplainImages,
    ExplainOutputs,
    ImageInput,
)
from keras_neuromask.serving.beam.writing import WriteExplanations

__all__ = ["DatasetRun", "DeadLetter", "ExplainImages", "ExplainOutputs", "ExplainedImage",
           "ExportInfo", "ImageExample", "ImageInput", "MaskResult", "SavedModelExplainHandler",
           "WriteExplanations", "explain_dataset", "export_info", "pipeline_options"]
