"""Reading images for the command line: :mod:`keras_neuromask.image_io`, re-exported here.

The reader lives at the top level so that the Beam pipeline (``serving.beam``) reads images
exactly as ``neuromask explain`` does.
"""

from keras_neuromask.image_io import LoadedImage, decode_image, load_image

__all__ = ["LoadedImage", "decode_image", "load_image"]
