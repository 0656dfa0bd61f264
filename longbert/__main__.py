"""`python -m longbert` runs the longbert command."""

import sys

from longbert.cli import main

sys.exit(main())
