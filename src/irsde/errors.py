"""Exceptions whose message is shown to users as one line (no stack trace)."""

from __future__ import annotations


class IrsdeError(Exception):
    """Base class for errors reported to users as a single line.

    ``exit_code`` follows the command-line contract: 1 for failed inputs, 2 for usage or
    configuration errors.
    """

    exit_code = 2


class UsageError(IrsdeError):
    """Bad command-line usage or configuration."""


class ConfigError(IrsdeError):
    """An invalid configuration file or value."""


class InputError(IrsdeError):
    """An input file that cannot be used (corrupt, truncated, not an image, ...)."""

    exit_code = 1


class ModelLoadError(IrsdeError):
    """A model file that cannot be loaded safely or does not match its architecture."""
