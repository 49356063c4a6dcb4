"""``python -m accelgen.flows.dse dse ...`` runs ``accelgen dse`` without the main CLI."""

import sys

from .cli import main

sys.exit(main())
