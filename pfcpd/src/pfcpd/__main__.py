"""``python -m pfcpd``: the same as the ``pfcpd`` command."""

import sys

from .cli import main

sys.exit(main())
