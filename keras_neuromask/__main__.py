"""``python -m keras_neuromask``: the same as the ``neuromask`` command."""

import sys

from keras_neuromask.cli.main import main

sys.exit(main())
