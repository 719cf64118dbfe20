"""Domain failures raised by services; the GraphQL layer turns each into a typed error member."""

from __future__ import annotations


class DomainError(Exception):
    code = "DOMAIN"


class InvalidInput(DomainError):
    """Input breaks a rule; `field` is the input path that is wrong."""

    code = "VALIDATION"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotFoundError(DomainError):
    code = "NOT_FOUND"

    def __init__(self, what: str, id: str) -> None:
        super().__init__(f"{what} {id} not found")
        self.what = what
        self.id = id


class ConflictError(DomainError):
    code = "CONFLICT"


class TransitionError(DomainError):
    """The item's state does not allow the step."""

    code = "INVALID_TRANSITION"

    def __init__(self, state: str, action: str, message: str | None = None) -> None:
        super().__init__(message or f"cannot {action} in state {state}")
        self.state = state
        self.action = action


class NotWritable(DomainError):
    """The caller sees the item but may not change it (row-level security said no)."""

    code = "NOT_ALLOWED"

    def __init__(self, what: str, id: str) -> None:
        super().__init__(f"{what} {id} may not be changed by you")
        self.what = what
        self.id = id
