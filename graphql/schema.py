"""The schema: Query and Mutation composed from per-domain classes, with the limits on."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection

from ducha.graphql.calendar.mutations import CalendarMutation
from ducha.graphql.calendar.queries import CalendarQuery
from ducha.graphql.clues.mutations import ClueMutation
from ducha.graphql.clues.queries import ClueQuery
from ducha.graphql.directory.mutations import DirectoryMutation
from ducha.graphql.directory.queries import DirectoryQuery
from ducha.graphql.documents.mutations import DocumentMutation
from ducha.graphql.documents.queries import DocumentQuery
from ducha.graphql.cost import cost_limit_rule
from ducha.graphql.errors import ERROR_TYPES
from ducha.graphql.executor import FastExecutionContext, lean_resolvers
from ducha.graphql.lean import Lean, MarkFailed, QueryCost, Remember
from ducha.graphql.escalation.mutations import EscalationMutation
from ducha.graphql.escalation.queries import EscalationQuery
from ducha.graphql.inbox.mutations import InboxMutation
from ducha.graphql.inbox.queries import InboxQuery
from ducha.graphql.inspection.mutations import InspectionMutation
from ducha.graphql.inspection.queries import InspectionQuery
from ducha.graphql.rollups.queries import RollupQuery
from ducha.graphql.assessment.mutations import AssessmentMutation
from ducha.graphql.assessment.queries import AssessmentQuery
from ducha.graphql.tasks.mutations import TaskMutation
from ducha.graphql.tasks.queries import TaskQuery
from ducha.settings import Settings, get_settings


@strawberry.type
class Query(DirectoryQuery, InspectionQuery, CalendarQuery, ClueQuery, EscalationQuery, InboxQuery, DocumentQuery,
            RollupQuery, AssessmentQuery, TaskQuery):
    pass


@strawberry.type
class Mutation(DirectoryMutation, InspectionMutation, CalendarMutation, ClueMutation, EscalationMutation, InboxMutation,
               DocumentMutation, AssessmentMutation, TaskMutation):
    pass


def _user_facing(error: Exception) -> bool:
    """Errors the caller should read as they are (bad input), even in production."""
    ext = getattr(error, "extensions", None) or {}
    return ext.get("code") in ("BAD_USER_INPUT", "QUERY_TOO_COSTLY")


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    s = settings or get_settings()
    extensions: list = [
        # parsing and validating a document costs milliseconds; the front end sends the same few
        ParserCache(maxsize=512),
        ValidationCache(maxsize=512),
        QueryDepthLimiter(max_depth=s.max_query_depth),
        MaxAliasesLimiter(max_alias_count=s.max_aliases),
        MaxTokensLimiter(max_token_count=s.max_tokens),
        AddValidationRules([cost_limit_rule(s.max_query_cost, s.max_page_size)]),
        QueryCost,
        Remember,
    ]
    if s.otel_enabled:
        from ducha import tracing

        extensions.append(tracing.schema_extension())
    if s.is_prod:
        extensions += [DisableIntrospection(), MaskErrors(should_mask_error=lambda e: not _user_facing(e))]
    # last, so its end of the operation comes first (hooks unwind in reverse): it records the
    # errors as raised, before MaskErrors replaces them
    extensions.append(MarkFailed)
    schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions, types=list(ERROR_TYPES),
                               execution_context_class=FastExecutionContext)
    lean_resolvers(schema)
    Lean(schema)  # schema.ducha_lean: the endpoint's lean path for documents seen before
    return schema


def sdl() -> str:
    """The schema as SDL, as committed in graphql/schema.graphql."""
    return strawberry.Schema(query=Query, mutation=Mutation, types=list(ERROR_TYPES)).as_str() + "\n"
