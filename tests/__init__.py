"""The test suite. Importing the package (which pytest does before any conftest) sets the environment first."""

import os

# No hub on test machines: a hub lookup must fail fast instead of hanging on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
