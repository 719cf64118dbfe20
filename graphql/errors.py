"""Failures a user can act on, returned as members of a result union (`... on NotAllowed`)."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="A failure the user can act on; `code` is stable, `message` readable.")
class UserError:
    message: str
    code: str


@strawberry.type(description="The caller's roles do not allow this action here.")
class NotAllowed(UserError):
    action: str
    resource: str


@strawberry.type(description="Nothing with this identity is visible to the caller.")
class NotFound(UserError):
    what: str
    # ID, like every `id` beside it in a result union: `... on Inspection { id } ... on NotFound { id }`
    # must not conflict (same JSON string either way)
    id: strawberry.ID


@strawberry.type(description="One invalid input field, by its path in the input.")
class FieldError:
    path: list[str]
    message: str


@strawberry.type(description="The input is invalid; `fields` says where.")
class ValidationError(UserError):
    fields: list[FieldError]


@strawberry.type(description="The item's current state does not allow this step.")
class InvalidTransition(UserError):
    from_state: str = strawberry.field(description="The state the item is in (lower-case code).")
    action: str

    @strawberry.field(deprecation_reason="Use fromState: a `state` of type String conflicts with the typed `state` "
                                         "of the payload in the same union selection (Clue.state: ClueState).")
    def state(self) -> str:
        return self.from_state


@strawberry.type(description="Someone else changed this first, or it already exists.")
class Conflict(UserError):
    pass


def not_allowed(action: str, resource: str, message: str | None = None) -> NotAllowed:
    return NotAllowed(
        message=message or f"你无权执行此操作 (not allowed: {action} {resource})",
        code="NOT_ALLOWED",
        action=action,
        resource=resource,
    )


def not_found(what: str, id: str) -> NotFound:
    return NotFound(message=f"{what} {id} 不存在或不可见 (not found)", code="NOT_FOUND", what=what, id=strawberry.ID(id))


def invalid(path: str | list[str], message: str) -> ValidationError:
    p = [path] if isinstance(path, str) else path
    return ValidationError(
        message=f"{'.'.join(p)}: {message}", code="VALIDATION", fields=[FieldError(path=p, message=message)]
    )


def conflict(message: str) -> Conflict:
    return Conflict(message=message, code="CONFLICT")


def invalid_transition(state: str, action: str, message: str | None = None) -> InvalidTransition:
    return InvalidTransition(
        message=message or f"cannot {action} in state {state}", code="INVALID_TRANSITION", from_state=state, action=action
    )


ERROR_TYPES = (NotAllowed, NotFound, ValidationError, InvalidTransition, Conflict)
