"""``python -m training``: the command line (training/cli/main.py)."""

import sys

from training.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
