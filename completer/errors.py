"""Errors a user can act on: the CLI prints their message on one line and exits 2."""


class CompleterError(Exception):
    """Base class: the message alone must tell the user what is wrong."""


class ModelLoadError(CompleterError):
    """A checkpoint is missing, truncated, or of a kind we cannot read."""


class BadInput(CompleterError):
    """A request the engine cannot serve (bad cursor, empty budget, binary file...)."""


class Cancelled(CompleterError):
    """A newer request superseded this one; its result is not wanted."""
