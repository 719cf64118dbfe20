"""Clue mutations: register, transfer, receive, investigate, feed back, close, link, files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from ducha.graphql import mutation
from ducha.graphql.clues.types import (
    AddClueFilesInput,
    Clue,
    CloseClueInput,
    FeedBackClueInput,
    FileRefInput,
    LinkClueInput,
    RegisterClueInput,
    TransferClueInput,
)
from ducha.graphql.context import Info
from ducha.graphql.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationError
from ducha.services import clues as svc
from ducha.services.errors import InvalidInput

ClueChangeResult = Annotated[
    Clue | NotAllowed | NotFound | ValidationError | InvalidTransition | Conflict, strawberry.union("ClueChangeResult")
]


def _id(value: str | None, field: str) -> int:
    if value is None or not str(value).isdigit() or len(str(value)) > 18:
        raise InvalidInput(field, "must be a numeric id")
    return int(value)


def _files(files: list[FileRefInput]) -> list[svc.FileRef]:
    return [svc.FileRef(f.name, f.sha256, f.size_bytes) for f in files]


async def _run(info: Info, act: Callable[[], Awaitable[svc.Clue]]) -> ClueChangeResult:
    async def wrapped() -> Clue:
        return Clue.from_row(await act())

    return await mutation.run(info, wrapped)  # type: ignore[no-any-return]


@strawberry.type
class ClueMutation:
    @strawberry.mutation(description="Register a clue found by the caller's agency; its transfer deadline starts.")
    async def register_clue(self, info: Info, input: RegisterClueInput) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.register(
            ctx.session, ctx.principal, source=input.source.value, importance=input.importance.value,
            discovered_on=input.discovered_on, title=input.title, content=input.content, files=_files(input.files),
            agency_id=_id(input.agency_id, "agencyId") if input.agency_id is not None else None))

    @strawberry.mutation(description="Transfer the clue to one of clueTransferTargets (移送); receipt is then due.")
    async def transfer_clue(self, info: Info, input: TransferClueInput) -> ClueChangeResult:
        ctx = info.context

        async def act() -> svc.Clue:
            async with ctx.db.system_session() as directory:
                return await svc.transfer(ctx.session, ctx.principal, _id(input.clue_id, "clueId"),
                                          receiver_agency_id=_id(input.receiver_agency_id, "receiverAgencyId"),
                                          directory=directory, note=input.note)

        return await _run(info, act)

    @strawberry.mutation(description="Sign for a clue transferred to the caller's agency (签收).")
    async def receive_clue(self, info: Info, clue_id: strawberry.ID) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.receive(ctx.session, ctx.principal, _id(clue_id, "clueId")))

    @strawberry.mutation(description="Start investigating a received clue (核查).")
    async def start_clue_investigation(self, info: Info, clue_id: strawberry.ID) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.start_investigation(ctx.session, ctx.principal, _id(clue_id, "clueId")))

    @strawberry.mutation(description="Report the result back to the sender (反馈).")
    async def feed_back_clue(self, info: Info, input: FeedBackClueInput) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.feed_back(ctx.session, ctx.principal, _id(input.clue_id, "clueId"),
                                                      feedback=input.feedback))

    @strawberry.mutation(description="Close the clue (办结): its holder, or the sender once feedback has come.")
    async def close_clue(self, info: Info, input: CloseClueInput) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.close(ctx.session, ctx.principal, _id(input.clue_id, "clueId"),
                                                  note=input.note))

    @strawberry.mutation(description="Record that the clue became a problem of an inspection (the office holding it).")
    async def link_clue_to_problem(self, info: Info, input: LinkClueInput) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.link_problem(ctx.session, ctx.principal, _id(input.clue_id, "clueId"),
                                                         problem_type=input.problem_type,
                                                         problem_id=_id(input.problem_id, "problemId")))

    @strawberry.mutation(description="Attach file references to an open clue.")
    async def add_clue_files(self, info: Info, input: AddClueFilesInput) -> ClueChangeResult:
        ctx = info.context
        return await _run(info, lambda: svc.add_files(ctx.session, ctx.principal, _id(input.clue_id, "clueId"),
                                                      _files(input.files)))
