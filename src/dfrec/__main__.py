"""``python -m dfrec`` runs the command line."""

import sys

from dfrec.cli.main import main

sys.exit(main())
