"""kubectl reach: can this pod reach that host:port, from inside its own network namespace?"""

__version__ = "0.1.0"
