"""``python -m averse.cli`` runs the ``averse`` command."""

import sys

from averse.cli import main

sys.exit(main())
