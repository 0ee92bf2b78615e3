"""One error tree; subclasses carry their data as attributes."""

from __future__ import annotations


class LaporbotError(Exception):
    """Root of every error laporbot raises on purpose."""


class ConfigError(LaporbotError):
    """Settings that cannot work (bad value, missing secret for a chosen mode)."""


class DataFileError(LaporbotError):
    """An authoring mistake in a data file: names the file, the place in it and the problem."""

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        super().__init__(f"{file}: {where}: {problem}")


class StandardsError(DataFileError):
    """A service-standard data file is broken (`where` is the field path)."""


class FlowError(DataFileError):
    """A conversation flow file is broken (`where` is the step id)."""


class CatalogError(DataFileError):
    """A translation catalog is broken or lacks a message id."""


class DurationError(LaporbotError):
    """A completion time written in a form the deadline engine does not know."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(f"{text!r}: {problem}")


class NotFound(LaporbotError):
    """A thing looked up by key does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r}")


class PermissionDenied(LaporbotError):
    """The actor may not do this (other agency's case, unbound user, revoked officer)."""

    def __init__(self, actor: str, action: str) -> None:
        self.actor = actor
        self.action = action
        super().__init__(f"{actor} may not {action}")


class BadRequest(LaporbotError):
    """Inbound payload that cannot be understood (malformed webhook, unknown update type)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
