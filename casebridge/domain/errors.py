"""Domain errors. One place (``api/errors.py``) maps them to HTTP; nothing matches on message text.

Every message is bilingual: Simplified Chinese first, then English.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


class InvalidTransition(DomainError):
    """The action is not valid in the current state (HTTP 409)."""


class UnknownDepartment(DomainError):
    """A department code that the case's policy does not know (HTTP 422)."""


class UnknownCategory(DomainError):
    """A case category that the policy does not know (HTTP 422)."""


class InvalidInput(DomainError):
    """Input that is well-formed but not acceptable (HTTP 422)."""


class InvalidDuration(ValueError):
    """A duration string that does not parse (``"N working days"``, ``"N days"`` …)."""


class NotFound(DomainError):
    """The case has no such thing, e.g. no assignment for that department (HTTP 404)."""


class Forbidden(DomainError):
    """The actor may not take this action on this case (HTTP 403)."""
