"""`python -m web.cli`: the same command as `kefu`."""

import sys

from web.cli.main import main

sys.exit(main())
