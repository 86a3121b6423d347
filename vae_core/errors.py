"""The package's one error base: what the CLI and the page catch and show as a message.

Anything that is not a `VaeCoreError` is a bug and keeps its traceback in the log.
"""
from __future__ import annotations


class VaeCoreError(Exception):
    """An expected failure (bad input, a damaged file, a busy server) with a message written for people."""
