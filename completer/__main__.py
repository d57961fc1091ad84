"""`python -m completer ...` is the same as the `completer` command."""

import sys

from .cli import main

sys.exit(main())
