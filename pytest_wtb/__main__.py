"""``python -m pytest_wtb``: the store's command line lives in cli/."""

import sys

from pytest_wtb.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
