"""The PartiQL package on its own: tokens, the syntax tree, DynamoDB's refusals, and the
DynamoDB expressions a statement is written as."""

from __future__ import annotations

import pytest

from dynovault.errors import ValidationException
from dynovault.partiql import nodes, parse_statement, prepare
from dynovault.partiql.binding import bind
from dynovault.partiql.tokens import NUMBER, PUNCT, QUOTED, STRING, WORD, tokenize

NOT_WELL_FORMED = "Statement wasn't well formed, can't be processed: "


def _refusal(text: str) -> str:
    with pytest.raises(ValidationException) as raised:
        parse_statement(text)
    return raised.value.message


def test_tokens_of_every_kind_and_comments_dropped():
    tokens = tokenize("""SELECT "a""b", 'it''s', 1.5e3 -- to the end\n/* a block */ <<?>> <= != ;""")
    assert [(t.kind, t.value) for t in tokens[:-1]] == [
        (WORD, "SELECT"), (QUOTED, 'a"b'), (PUNCT, ","), (STRING, "it's"), (PUNCT, ","), (NUMBER, "1.5e3"),
        (PUNCT, "<<"), (PUNCT, "?"), (PUNCT, ">>"), (PUNCT, "<="), (PUNCT, "!="), (PUNCT, ";"),
    ]


def test_a_select_with_every_kind_of_condition():
    statement = parse_statement(
        'select a, "b".c[2] from "t"."i" where pk = ? and (x > -3 or y in [1, 2]) and not z is missing '
        "and w between 1 and 2 and begins_with(s, 'p') and size(l) >= 2 order by sk desc"
    ).statement
    assert isinstance(statement, nodes.Select)
    assert (statement.table, statement.index) == ("t", "i")
    assert statement.projection == (("a",), ("b", "c", 2))
    assert statement.order_by == ((("sk",), True),)
    assert nodes.Parameter(0) in [part.right for part in _comparisons(statement.where)]


def _comparisons(condition):
    if isinstance(condition, nodes.And):
        return _comparisons(condition.left) + _comparisons(condition.right)
    return [condition] if isinstance(condition, nodes.Comparison) else []


def test_value_literals_bind_to_wire_form():
    statement = parse_statement(
        "INSERT INTO t VALUE {'pk': ?, 'n': -1.5, 'b': TRUE, 'z': NULL, 'l': [1, 'two'], "
        "'m': {'x': <<'p', 'q'>>}, 'ns': <<1, 2>>}"
    ).statement
    assert bind(statement.item, [{"S": "key"}]) == {"M": {
        "pk": {"S": "key"}, "n": {"N": "-1.5"}, "b": {"BOOL": True}, "z": {"NULL": True},
        "l": {"L": [{"N": "1"}, {"S": "two"}]}, "m": {"M": {"x": {"SS": ["p", "q"]}}}, "ns": {"NS": ["1", "2"]},
    }}


def test_a_set_of_mixed_types_is_refused():
    statement = parse_statement("INSERT INTO t VALUE {'pk': 'a', 's': <<'x', 1>>}").statement
    with pytest.raises(ValidationException, match="Bag"):
        bind(statement.item, [])


@pytest.mark.parametrize(("text", "detail"), [
    ("SELECT * FROM t WHERE", "Unexpected term"),
    ("SELECT * FROM t WHERE NOT", "Unexpected term"),
    ("SELECT * FROM t WHERE (", "Unexpected term"),
    ("SELECT * FROM", "Unexpected term"),
    ("SELECT * FROM t WHERE pk = 'a' AND", "Missing right-hand side expression of infix operator"),
    ("SELECT * FROM t WHERE pk = 'a' OR", "Missing right-hand side expression of infix operator"),
    ("SELECT * FROM t WHERE ORDER BY pk", "Unexpected keyword"),
    ("SELECT * FROM t WHERE IS NULL", "Unexpected operator"),
    ("SELECT * FROM t WHERE pk = LIKE", "Unexpected operator"),
    ("SELECT * FROM t WHERE pk = 1 foo", "Unexpected token after expression"),
    ("SELECT * FROM t WHERE pk = 1)", "Unexpected token after expression"),
    ("SELECT * FROM t ORDER BY pk WHERE pk = 1", "Unexpected token after expression"),
    ("DELETE FROM t WHERE pk = 1 ORDER BY pk", "Unexpected token after expression"),
    ("DELETE FROM", "Expected identifier for simple path"),
    ("DELETE FROM WHERE pk = 'a'", "Expected identifier for simple path"),
    ("SELECT * FROM t WHERE x IS FOO", "Expected type name"),
    ("SELECT * FROM t WHERE pk = 1 /* open", ""),
    ("SELECT * FROM t WHERE pk = 1 # note", ""),
    ("SELEC * FROM t", "Expected data manipulation"),
    ("SELECT * FROM t; SELECT * FROM t", "Unexpected token after expression"),
])
def test_refusals_in_dynamodb_words(text, detail):
    assert _refusal(text) == NOT_WELL_FORMED + detail


@pytest.mark.parametrize("text", ["SELECT * FROM t x WHERE pk = 'a'", "SELECT * FROM t AS x", "DELETE FROM t x WHERE pk = 1"])
def test_aliases_are_refused(text):
    assert _refusal(text) == "Aliasing is not supported"


def test_any_depth_of_nesting_is_refused_without_exhausting_the_stack():
    assert _refusal("SELECT * FROM t WHERE " + "(" * 10_000 + "a = 1" + ")" * 10_000).startswith(NOT_WELL_FORMED)
    assert _refusal("INSERT INTO t VALUE " + "{'a': " * 5_000 + "1" + "}" * 5_000).startswith(NOT_WELL_FORMED)
    assert _refusal("SELECT * FROM t WHERE " + "NOT " * 10_000 + "a = 1").startswith(NOT_WELL_FORMED)


def test_comments_a_trailing_semicolon_and_lower_case_are_accepted():
    statement = parse_statement("select * -- all of it\n from /* the table */ \"t\" where pk = 'a';").statement
    assert isinstance(statement, nodes.Select) and statement.table == "t"


def test_a_statement_is_parsed_once_per_text():
    text = "SELECT * FROM cached WHERE pk = ?"
    assert parse_statement(text) is parse_statement(text)
    assert prepare(text, ("pk",)) is prepare(text, ("pk",))


def test_a_select_becomes_a_filter_and_a_projection_with_placeholders_only():
    prepared = prepare("SELECT size, a.b[1] FROM t WHERE pk = ? AND size(l) > 2 AND v IS NOT NULL", ("pk",))
    members = prepared.expressions.request_members([{"S": "k"}], "FilterExpression")
    assert members == {
        "FilterExpression": (
            "((#n0 = :v0) AND (size(#n1) > :v1)) AND (NOT (attribute_not_exists(#n2) OR attribute_type(#n2, :v2)))"
        ),
        "ProjectionExpression": "#n3, #n4.#n5[1]",
        "ExpressionAttributeNames": {"#n0": "pk", "#n1": "l", "#n2": "v", "#n3": "size", "#n4": "a", "#n5": "b"},
        "ExpressionAttributeValues": {":v0": {"S": "k"}, ":v1": {"N": "2"}, ":v2": {"S": "NULL"}},
    }
    assert prepared.keys == {"pk": nodes.Parameter(0)}


def test_an_update_becomes_set_remove_add_and_delete_under_its_whole_where():
    prepared = prepare(
        "UPDATE t SET a = a + 1, l = list_append(l, [2]) SET s = set_add(s, <<'x'>>) REMOVE r "
        "SET d = set_delete(d, <<1>>) WHERE pk = 'k' AND v = 3",
        ("pk",),
    )
    expressions = prepared.expressions
    assert expressions.update == "SET #n0 = #n0 + :v0, #n1 = list_append(#n1, :v1) REMOVE #n3 ADD #n2 :v2 DELETE #n4 :v3"
    assert expressions.condition == "(#n5 = :v4) AND (#n6 = :v5)"


def test_a_delete_keeps_only_what_is_not_its_key_as_a_condition():
    assert prepare("DELETE FROM t WHERE pk = 'k' AND sk = 1", ("pk", "sk")).expressions.condition is None
    condition = prepare("DELETE FROM t WHERE sk = 1 AND v <> 'x' AND pk = 'k'", ("pk", "sk")).expressions.condition
    assert condition == "#n0 <> :v0"


def test_too_few_parameters_are_refused_and_more_are_accepted():
    prepared = prepare("SELECT * FROM t WHERE pk = ? AND v = ?", ("pk",))
    with pytest.raises(ValidationException, match="Number of parameters in request and statement don't match."):
        prepared.check_parameters([{"S": "a"}])
    prepared.check_parameters([{"S": "a"}, {"S": "b"}, {"S": "c"}])
