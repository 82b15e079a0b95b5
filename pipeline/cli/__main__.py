"""`python -m litwatch.pipeline.cli ...`: the same as the `litwatch` console script."""

import sys

from . import main

sys.exit(main())
