#!/usr/bin/env python3
"""kubectl reach, from a checkout: python reach.py POD --to HOST:PORT [-n NS]."""
import sys

try:
    from lib.cli import main
except KeyboardInterrupt:   # Ctrl-C before reach has its own handling: no traceback either
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
