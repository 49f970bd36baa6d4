"""Errors the engine raises. Every message is written for the person who has to act on it."""


class EngineError(Exception):
    """A problem the caller can fix (bad input, missing weights, impossible parameters)."""


class ImageError(EngineError):
    """An input file that is not a usable image."""


class WeightsUnavailable(EngineError):
    """No network weights could be found or loaded."""


class UnknownStyle(EngineError):
    """A style name that is not in the catalogue."""


class InvalidParameter(EngineError):
    """A parameter outside what the engine can do."""


class Cancelled(EngineError):
    """The caller asked a long-running job to stop."""
