"""The package's one error base: what the CLI and the page catch and show as a message.

Every expected failure in vae_core (a bad value, a damaged or missing file, a busy server)
raises a `VaeCoreError` subclass with a message written for people. Anything else is a bug
and keeps its traceback in the log.
"""
from __future__ import annotations


class VaeCoreError(Exception):
    """An expected failure (bad input, a damaged file, a busy server) with a message written for people."""


class ConfigError(VaeCoreError, ValueError):
    """A configuration value or key that cannot be used; the message says which."""


class DatasetError(VaeCoreError, RuntimeError):
    """A dataset file is missing, damaged or inconsistent; the message names the file."""


class CheckpointError(VaeCoreError, RuntimeError):
    """A model folder that cannot be saved or loaded as asked; the message names the file."""
