"""Errors the engine raises. Every message is written for the person who has to act on it."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.protocol import describe

Model = TypeVar("Model", bound=BaseModel)


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


def validated(model: type[Model], prefix: str = "", **values) -> Model:
    """Build ``model`` from user-given values; a bad value becomes one readable InvalidParameter."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise InvalidParameter(prefix + describe(exc, whole="parameters")) from None
