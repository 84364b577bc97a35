#!/usr/bin/env python3
"""kubectl reach, from a checkout: python reach.py POD --to HOST:PORT [-n NS]."""
import sys

from lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
