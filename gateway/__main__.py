"""``python -m gateway``: the same as the ``regauth`` command."""

import sys

from .cli import main

sys.exit(main())
