"""`python -m cachecast.cli`: the same as the `cachecast` command."""
import sys

from . import main

sys.exit(main())
