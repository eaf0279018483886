"""`python -m serving.model_server --port 8500 --model_config_file models/models.config`."""

import sys

from serving.model_server.server import main

sys.exit(main())
