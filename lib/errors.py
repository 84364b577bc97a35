"""Error kinds and exit codes.

Library code raises ReachError; only cli.main turns one into `error: ...` and an exit code.
"""
from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    OK = 0             # every target reachable
    UNREACHABLE = 1    # at least one target not reachable
    USAGE = 2          # bad flags or arguments
    KUBERNETES = 3     # kubectl or the API refused: not found, forbidden, unsupported, admission
    PROBE = 4          # the probe could not run or could not decide
    INTERRUPTED = 130  # Ctrl-C


class ReachError(Exception):
    """An error the user can act on: what happened (message) and what to try (hint)."""

    exit_code = Exit.KUBERNETES

    def __init__(self, message: str, hint: str = "", exit_code: Exit | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(ReachError):
    exit_code = Exit.USAGE


class KubeError(ReachError):
    """kubectl or the API server said no. `reason` is a short machine-readable kind."""

    exit_code = Exit.KUBERNETES

    def __init__(self, message: str, hint: str = "", reason: str = "Error", stderr: str = ""):
        super().__init__(message, hint)
        self.reason = reason
        self.stderr = stderr


class ProbeError(ReachError):
    """The ephemeral container could not run the probe (image pull, start error, deadline)."""

    exit_code = Exit.PROBE
