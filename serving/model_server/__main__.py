"""`python -m serving.model_server --port 8500 --model_config_file models/models.config`."""

import os
import sys

# TensorFlow's C++ INFO lines (CPU features, no CUDA) are noise for a local server.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from serving.model_server.server import main

sys.exit(main())
