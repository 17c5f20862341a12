"""`python -m mnist_zoo` runs the command line."""

import sys

from mnist_zoo.cli import main

sys.exit(main())
