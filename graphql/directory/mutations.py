"""Directory mutations: grant and revoke roles."""

from __future__ import annotations

from typing import Annotated

import strawberry

from ducha.graphql import mutation
from ducha.graphql.context import Info, publish_after_commit
from ducha.graphql.directory.types import RoleGrant, RoleName, grant_of
from ducha.graphql.errors import Conflict, NotAllowed, NotFound, ValidationError
from ducha.policies.roles import Role
from ducha.tenants import grants


@strawberry.input
class RoleGrantInput:
    login: str
    role: RoleName  # type: ignore[valid-type]
    region_code: str


@strawberry.type
class RoleGrantChanged:
    login: str
    grant: RoleGrant


GrantRoleResult = Annotated[
    RoleGrantChanged | NotAllowed | NotFound | ValidationError | Conflict, strawberry.union("GrantRoleResult")
]
RevokeRoleResult = Annotated[RoleGrantChanged | NotAllowed | NotFound, strawberry.union("RevokeRoleResult")]


@strawberry.type
class DirectoryMutation:
    @strawberry.mutation(description="Grant a role within a region; admins only, inside their own subtree.")
    async def grant_role(self, info: Info, input: RoleGrantInput) -> GrantRoleResult:
        ctx = info.context

        async def act() -> RoleGrantChanged:
            ch = await grants.grant(ctx.session, ctx.principal, login=input.login, role=Role(input.role),
                                    region_code=input.region_code)
            ctx.after_commit.append(publish_after_commit(ctx.redis, ch.user.id))
            return RoleGrantChanged(login=ch.user.login, grant=grant_of(ch.role, ch.region_code))

        return await mutation.run(info, act)

    @strawberry.mutation(description="Revoke a role; admins only, inside their own subtree.")
    async def revoke_role(self, info: Info, input: RoleGrantInput) -> RevokeRoleResult:
        ctx = info.context

        async def act() -> RoleGrantChanged:
            ch = await grants.revoke(ctx.session, ctx.principal, login=input.login, role=Role(input.role),
                                     region_code=input.region_code)
            ctx.after_commit.append(publish_after_commit(ctx.redis, ch.user.id))
            return RoleGrantChanged(login=ch.user.login, grant=grant_of(ch.role, ch.region_code))

        return await mutation.run(info, act)
