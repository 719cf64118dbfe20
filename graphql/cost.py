"""A query-cost figure: every field costs 1, and a connection multiplies what is under it by
its page size. Returned in `extensions.cost`; operations above the limit are refused."""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule, DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError,
    InlineFragmentNode, IntValueNode, OperationDefinitionNode, SelectionSetNode, ValidationContext, VariableNode,
)

PAGE_ARGS = ("first", "last", "limit")


def _page(field: FieldNode, variables: dict[str, Any] | None, default: int) -> int:
    for arg in field.arguments or ():
        if arg.name.value in PAGE_ARGS:
            v = arg.value
            if isinstance(v, IntValueNode):
                return max(1, int(v.value))
            if isinstance(v, VariableNode):
                val = (variables or {}).get(v.name.value)
                return max(1, int(val)) if isinstance(val, int) else default
    return 1


def _cost(sel: SelectionSetNode | None, frags: dict[str, FragmentDefinitionNode], variables: dict[str, Any] | None,
          default: int, seen: frozenset[str]) -> int:
    if sel is None:
        return 0
    total = 0
    for node in sel.selections:
        if isinstance(node, FieldNode):
            if node.name.value.startswith("__"):
                continue
            total += 1 + _page(node, variables, default) * _cost(node.selection_set, frags, variables, default, seen)
        elif isinstance(node, InlineFragmentNode):
            total += _cost(node.selection_set, frags, variables, default, seen)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in frags and name not in seen:  # cycles are refused by validation anyway
                total += _cost(frags[name].selection_set, frags, variables, default, seen | {name})
    return total


def cost(document: DocumentNode, variables: dict[str, Any] | None = None, operation_name: str | None = None,
         default_page: int = 100) -> int:
    """The cost of the operation to run (unknown page sizes count as the page cap)."""
    frags = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        ops = [o for o in ops if o.name and o.name.value == operation_name] or ops
    return max((_cost(o.selection_set, frags, variables, default_page, frozenset()) for o in ops), default=0)


def cost_limit_rule(limit: int, default_page: int) -> type[ASTValidationRule]:
    class CostLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            n = cost(context.document, None, None, default_page)
            if n > limit:
                context.report_error(GraphQLError(
                    f"query cost {n} exceeds the limit {limit}; ask for fewer fields or smaller pages",
                    extensions={"code": "QUERY_TOO_COSTLY", "cost": n, "limit": limit}))

    return CostLimit
