"""The typed errors of result unions can be selected beside their payload without aliases:
same-named fields of union members must have the same type (GraphQL's OverlappingFields rule)."""

from __future__ import annotations

from graphql import parse, validate

from ducha.graphql.schema import build_schema


def _errors(doc: str) -> list[str]:
    schema = build_schema()._schema
    return [e.message for e in validate(schema, parse(doc))]


def test_not_found_id_sits_beside_the_payload_id():
    doc = """query($id: ID!) { inspection(id: $id) { __typename ... on Inspection { id } ... on NotFound { id what } } }"""
    assert _errors(doc) == []


def test_invalid_transition_from_state_sits_beside_a_typed_state():
    doc = """mutation($c: ID!) { receiveClue(clueId: $c) { __typename ... on Clue { id state }
             ... on InvalidTransition { fromState action } ... on NotFound { id } } }"""
    assert _errors(doc) == []
    # the deprecated String `state` is what clashed; it is still served for old documents
    clash = _errors("""mutation($c: ID!) { receiveClue(clueId: $c) { ... on Clue { state }
                       ... on InvalidTransition { state } } }""")
    assert clash and "state" in clash[0]


async def test_not_found_answers_the_id_it_was_given(gql):
    d = await gql.data("jiayu.office", """mutation { decideAnnualPlan(planId: "999999999", approve: true) { __typename
        ... on NotFound { id what } } }""")
    assert d["decideAnnualPlan"] == {"__typename": "NotFound", "id": "999999999", "what": "AnnualPlan"}
