from __future__ import annotations

import sys

from seedrun.cli import main

sys.exit(main())
