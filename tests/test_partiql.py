"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction through unmodified
boto3: every statement, their refusals, paging, capacity, and random statements against
the expression path they compile onto."""

from __future__ import annotations

import itertools
import uuid

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.testing.cluster import Cluster
from tests.conftest import client_for, create_hash_table

NOT_WELL_FORMED = "Statement wasn't well formed, can't be processed: "


def _refused(call, code: str = "ValidationException") -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == code, raised.value.response["Error"]
    return raised.value


def _items(ddb, statement: str, **options) -> list[dict]:
    return ddb.execute_statement(Statement=statement, **options)["Items"]


@pytest.fixture
def songs(ddb, range_table):
    """A table keyed by ``pk`` and number ``sk`` holding a few varied items."""
    for statement in (
        f"INSERT INTO \"{range_table}\" VALUE {{'pk': 'band', 'sk': 1, 'title': 'Alpha', 'plays': 10, "
        "'tags': <<'rock', 'live'>>, 'info': {'year': 2020, 'credits': ['ann', 'bob']}}",
        f"INSERT INTO \"{range_table}\" VALUE {{'pk': 'band', 'sk': 2, 'title': 'Beta', 'plays': 3, 'info': NULL}}",
        f"INSERT INTO \"{range_table}\" VALUE {{'pk': 'band', 'sk': 3, 'title': 'Gamma', 'plays': 7, 'flag': TRUE}}",
        f"INSERT INTO \"{range_table}\" VALUE {{'pk': 'solo', 'sk': 1, 'title': 'Delta', 'plays': 12}}",
    ):
        ddb.execute_statement(Statement=statement)
    return range_table


# ---- INSERT and SELECT -------------------------------------------------------------------


def test_insert_then_select_by_key_and_an_existing_key_is_a_duplicate(ddb, songs):
    items = _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 1")
    assert items == [{
        "pk": {"S": "band"}, "sk": {"N": "1"}, "title": {"S": "Alpha"}, "plays": {"N": "10"},
        "tags": {"SS": ["live", "rock"]}, "info": {"M": {"year": {"N": "2020"}, "credits": {"L": [{"S": "ann"}, {"S": "bob"}]}}},
    }]
    error = _refused(lambda: ddb.execute_statement(Statement=f"INSERT INTO \"{songs}\" VALUE {{'pk': 'band', 'sk': 1}}"),
                     "DuplicateItemException")
    assert error.response["Error"]["Message"] == "Duplicate primary key exists in table"
    assert _items(ddb, f"SELECT title FROM \"{songs}\" WHERE pk = 'band' AND sk = 1")[0] == {"title": {"S": "Alpha"}}
    assert _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'none' AND sk = 1") == []


def test_projections_of_nested_paths(ddb, songs):
    items = _items(ddb, f"SELECT title, info.credits[1], info.year FROM \"{songs}\" WHERE pk = 'band' AND sk = 1")
    assert items == [{"title": {"S": "Alpha"}, "info": {"M": {"credits": {"L": [{"S": "bob"}]}, "year": {"N": "2020"}}}}]


@pytest.mark.parametrize(("where", "titles"), [
    ("plays > 5", {"Alpha", "Gamma", "Delta"}),
    ("plays >= 7 AND plays <= 10", {"Alpha", "Gamma"}),
    ("plays < 5 OR title = 'Delta'", {"Beta", "Delta"}),
    ("NOT plays > 5", {"Beta"}),
    ("plays <> 3", {"Alpha", "Gamma", "Delta"}),
    ("title IN ['Beta', 'Gamma', 'Nope']", {"Beta", "Gamma"}),
    ("title IN ('Alpha')", {"Alpha"}),
    ("plays BETWEEN 3 AND 7", {"Beta", "Gamma"}),
    ("flag IS MISSING AND info IS NOT MISSING", {"Alpha", "Beta"}),
    ("info IS NULL", {"Beta", "Gamma", "Delta"}),
    ("info IS NOT NULL", {"Alpha"}),
    ("begins_with(title, 'G')", {"Gamma"}),
    ("contains(tags, 'live')", {"Alpha"}),
    ("contains(title, 'et')", {"Beta"}),
    ("attribute_type(info, 'M')", {"Alpha"}),
    ("size(title) = 4", {"Beta"}),
    ("size(tags) > 1", {"Alpha"}),
    ("info.year = 2020", {"Alpha"}),
    ("info.credits[0] = 'ann'", {"Alpha"}),
    ("flag = TRUE", {"Gamma"}),
    ("\"title\" = 'Alpha'", {"Alpha"}),
])
def test_where_conditions_of_a_full_scan(ddb, songs, where, titles):
    assert {item["title"]["S"] for item in _items(ddb, f"SELECT title FROM \"{songs}\" WHERE {where}")} == titles


def test_a_partition_reads_in_sort_key_order_either_way(ddb, songs):
    forward = _items(ddb, f"SELECT sk FROM \"{songs}\" WHERE pk = 'band'")
    assert [item["sk"]["N"] for item in forward] == ["1", "2", "3"]
    backward = _items(ddb, f"SELECT sk FROM \"{songs}\" WHERE pk = 'band' AND plays > 4 ORDER BY sk DESC")
    assert [item["sk"]["N"] for item in backward] == ["3", "1"]
    assert _items(ddb, f"SELECT sk FROM \"{songs}\" WHERE pk = 'band' AND sk > 1 AND sk < 3") == [{"sk": {"N": "2"}}]
    assert _refused(lambda: ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\" ORDER BY sk"))


def test_parameters_bind_in_order(ddb, songs):
    items = _items(ddb, f"SELECT title FROM \"{songs}\" WHERE pk = ? AND plays > ?",
                   Parameters=[{"S": "band"}, {"N": "5"}])
    assert {item["title"]["S"] for item in items} == {"Alpha", "Gamma"}
    error = _refused(lambda: ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\" WHERE pk = ? AND sk = ?",
                                                   Parameters=[{"S": "band"}]))
    assert error.response["Error"]["Message"] == "Number of parameters in request and statement don't match."
    assert _refused(lambda: ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\" WHERE pk = ?",
                                                  Parameters=[{"N": "1"}]))


def test_limit_and_next_token_page_through_everything(ddb, songs):
    seen, token, pages = [], None, 0
    while True:
        options = {"NextToken": token} if token else {}
        answer = ddb.execute_statement(Statement=f"SELECT pk, sk FROM \"{songs}\"", Limit=1, **options)
        seen.extend((item["pk"]["S"], item["sk"]["N"]) for item in answer["Items"])
        pages += 1
        token = answer.get("NextToken")
        if token is None:
            break
    assert sorted(seen) == [("band", "1"), ("band", "2"), ("band", "3"), ("solo", "1")]
    assert pages >= 4
    first = ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\"", Limit=1)["NextToken"]
    _refused(lambda: ddb.execute_statement(Statement=f"SELECT pk FROM \"{songs}\"", NextToken=first))
    _refused(lambda: ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\"", NextToken="not-a-token"))


def test_select_through_a_secondary_index(ddb, table_name):
    ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "owner", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-owner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    for pk, owner in (("a", "ann"), ("b", "bob"), ("c", "ann")):
        ddb.execute_statement(Statement=f"INSERT INTO \"{table_name}\" VALUE {{'pk': ?, 'owner': ?}}",
                              Parameters=[{"S": pk}, {"S": owner}])
    items = _items(ddb, f"SELECT pk FROM \"{table_name}\".\"by-owner\" WHERE owner = 'ann'")
    assert sorted(item["pk"]["S"] for item in items) == ["a", "c"]
    assert len(_items(ddb, f"SELECT * FROM \"{table_name}\".\"by-owner\"")) == 3
    message = _refused(lambda: ddb.execute_statement(
        Statement=f"SELECT * FROM \"{table_name}\".\"by-owner\" WHERE owner = 'ann'", ConsistentRead=True,
    )).response["Error"]["Message"]
    assert message == "Consistent reads are not supported on global secondary indexes"
    message = _refused(lambda: ddb.execute_statement(Statement=f"SELECT * FROM \"{table_name}\".\"nope\"")).response
    assert message["Error"]["Message"] == "The table does not have the specified index: nope"


def test_capacity_is_reported_as_the_item_operations_report_it(ddb, songs):
    answer = ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 1",
                                   ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert answer["ConsumedCapacity"] == {"TableName": songs, "CapacityUnits": 1.0}
    answer = ddb.execute_statement(Statement=f"UPDATE \"{songs}\" SET plays = 11 WHERE pk = 'band' AND sk = 1",
                                   ReturnConsumedCapacity="TOTAL")
    assert answer["ConsumedCapacity"] == {"TableName": songs, "CapacityUnits": 1.0}
    assert "ConsumedCapacity" not in ddb.execute_statement(Statement=f"SELECT * FROM \"{songs}\"")


# ---- UPDATE and DELETE -------------------------------------------------------------------


def test_update_sets_and_removes_and_returns_what_it_is_asked(ddb, songs):
    where = "WHERE pk = 'band' AND sk = 1"
    answer = ddb.execute_statement(
        Statement=f"UPDATE \"{songs}\" SET plays = plays + 5, info.year = 2021 SET tags = set_add(tags, <<'new'>>) "
                  f"REMOVE title {where} RETURNING MODIFIED NEW *")
    assert answer["Items"] == [{"plays": {"N": "15"}, "info": {"M": {"year": {"N": "2021"}}},
                                "tags": {"SS": ["live", "new", "rock"]}}]
    old = _items(ddb, f"UPDATE \"{songs}\" SET credits = list_append(info.credits, ['cy']) {where} RETURNING ALL OLD *")
    assert "credits" not in old[0] and old[0]["plays"] == {"N": "15"}
    item = _items(ddb, f"SELECT credits, title FROM \"{songs}\" {where}")[0]
    assert item == {"credits": {"L": [{"S": "ann"}, {"S": "bob"}, {"S": "cy"}]}}
    assert _items(ddb, f"UPDATE \"{songs}\" SET tags = set_delete(tags, <<'rock'>>) {where}") == []
    assert _items(ddb, f"SELECT tags FROM \"{songs}\" {where}")[0]["tags"]["SS"] == ["live", "new"]


def test_an_update_never_creates_and_checks_its_where(ddb, songs):
    _refused(lambda: ddb.execute_statement(Statement=f"UPDATE \"{songs}\" SET a = 1 WHERE pk = 'x' AND sk = 9"),
             "ConditionalCheckFailedException")
    assert _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'x' AND sk = 9") == []
    error = _refused(lambda: ddb.execute_statement(
        Statement=f"UPDATE \"{songs}\" SET a = 1 WHERE pk = 'band' AND sk = 2 AND plays > 100",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    ), "ConditionalCheckFailedException")
    assert error.response["Item"]["title"] == {"S": "Beta"}
    message = _refused(lambda: ddb.execute_statement(Statement=f"UPDATE \"{songs}\" SET a = 1 WHERE pk = 'band'"))
    assert message.response["Error"]["Message"] == "Where clause does not contain a mandatory equality on all key attributes"
    _refused(lambda: ddb.execute_statement(Statement=f"UPDATE \"{songs}\" SET sk = 5 WHERE pk = 'band' AND sk = 2"))


def test_delete_by_key_with_a_condition_and_returning_the_old_item(ddb, songs):
    assert _items(ddb, f"DELETE FROM \"{songs}\" WHERE pk = 'nobody' AND sk = 1") == []
    _refused(lambda: ddb.execute_statement(Statement=f"DELETE FROM \"{songs}\" WHERE pk = 'band' AND sk = 2 AND plays = 4"),
             "ConditionalCheckFailedException")
    old = _items(ddb, f"DELETE FROM \"{songs}\" WHERE pk = 'band' AND sk = 2 AND plays = 3 RETURNING ALL OLD *")
    assert old[0]["title"] == {"S": "Beta"}
    assert _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 2") == []
    _refused(lambda: ddb.execute_statement(Statement=f"DELETE FROM \"{songs}\" WHERE pk = 'band'"))


def test_refusals_in_dynamodb_words(ddb, songs):
    for statement, message in (
        (f"SELECT * FROM \"{songs}\" WHERE", NOT_WELL_FORMED + "Unexpected term"),
        (f"SELECT * FROM \"{songs}\" WHERE pk = 'a' AND", NOT_WELL_FORMED + "Missing right-hand side expression of infix operator"),
        (f"SELECT * FROM \"{songs}\" s WHERE pk = 'a'", "Aliasing is not supported"),
        ("CREATE TABLE x", NOT_WELL_FORMED + "Expected data manipulation"),
    ):
        assert _refused(lambda s=statement: ddb.execute_statement(Statement=s)).response["Error"]["Message"] == message
    _refused(lambda: ddb.execute_statement(Statement="SELECT * FROM \"no-such-table\""), "ResourceNotFoundException")


# ---- BatchExecuteStatement ---------------------------------------------------------------


def test_a_batch_answers_each_statement_in_place(ddb, unchecked, songs):
    reads = ddb.batch_execute_statement(Statements=[
        {"Statement": f"SELECT title FROM \"{songs}\" WHERE pk = 'band' AND sk = ?", "Parameters": [{"N": "3"}]},
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 99"},
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'band'"},
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE"},
    ], ReturnConsumedCapacity="TOTAL")["Responses"]
    assert reads[0] == {"TableName": songs, "Item": {"title": {"S": "Gamma"}}}
    assert reads[1] == {"TableName": songs}
    assert reads[2]["Error"] == {
        "Code": "ValidationError", "Message": "Where clause does not contain a mandatory equality on all key attributes",
    }
    assert reads[3]["Error"] == {"Code": "ValidationError", "Message": NOT_WELL_FORMED + "Unexpected term"}
    answer = ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{songs}\" VALUE {{'pk': 'band', 'sk': 1}}"},
        {"Statement": f"INSERT INTO \"{songs}\" VALUE {{'pk': 'new', 'sk': 1}}"},
        {"Statement": f"UPDATE \"{songs}\" SET x = 1 WHERE pk = 'band' AND sk = 3 AND plays = 0",
         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
    ], ReturnConsumedCapacity="TOTAL")
    responses = answer["Responses"]
    assert responses[0]["Error"] == {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
    assert responses[1] == {"TableName": songs}
    assert responses[2]["Error"]["Code"] == "ConditionalCheckFailed"
    assert responses[2]["Error"]["Item"]["title"] == {"S": "Gamma"}
    assert answer["ConsumedCapacity"][0]["TableName"] == songs
    assert _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'new' AND sk = 1")
    mixed = _refused(lambda: ddb.batch_execute_statement(Statements=[
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
        {"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
    ]))
    assert mixed.response["Error"]["Message"] == (
        "BatchExecuteStatement API does not support both read and write operations in the same request."
    )
    too_many = [{"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'a' AND sk = {n}"} for n in range(26)]
    assert "Member must have length less than or equal to 25" in _refused(
        lambda: unchecked.batch_execute_statement(Statements=too_many)).response["Error"]["Message"]


# ---- ExecuteTransaction ------------------------------------------------------------------


def test_a_transaction_of_writes_is_all_or_nothing(ddb, songs):
    cancelled = _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"INSERT INTO \"{songs}\" VALUE {{'pk': 'tx', 'sk': 1}}"},
        {"Statement": f"INSERT INTO \"{songs}\" VALUE {{'pk': 'band', 'sk': 1}}"},
        {"Statement": f"UPDATE \"{songs}\" SET plays = 0 WHERE pk = 'missing' AND sk = 1"},
    ]), "TransactionCanceledException")
    assert [reason["Code"] for reason in cancelled.response["CancellationReasons"]] == [
        "None", "DuplicateItem", "ConditionalCheckFailed",
    ]
    assert cancelled.response["Error"]["Message"].endswith("[None, DuplicateItem, ConditionalCheckFailed]")
    assert _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'tx' AND sk = 1") == []
    ddb.execute_transaction(TransactStatements=[
        {"Statement": f"INSERT INTO \"{songs}\" VALUE {{'pk': 'tx', 'sk': 1, 'n': 1}}"},
        {"Statement": f"UPDATE \"{songs}\" SET plays = plays + 1 WHERE pk = 'band' AND sk = 3"},
        {"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'solo' AND sk = 1"},
        {"Statement": f"EXISTS(SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 2 AND title = 'Beta')"},
    ])
    assert _items(ddb, f"SELECT n FROM \"{songs}\" WHERE pk = 'tx' AND sk = 1") == [{"n": {"N": "1"}}]
    assert _items(ddb, f"SELECT plays FROM \"{songs}\" WHERE pk = 'band' AND sk = 3") == [{"plays": {"N": "8"}}]
    assert _items(ddb, f"SELECT * FROM \"{songs}\" WHERE pk = 'solo' AND sk = 1") == []
    failed_check = _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'tx' AND sk = 1"},
        {"Statement": f"EXISTS(SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 2 AND title = 'Other')"},
    ]), "TransactionCanceledException")
    assert [r["Code"] for r in failed_check.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert _items(ddb, f"SELECT n FROM \"{songs}\" WHERE pk = 'tx' AND sk = 1")


def test_a_transaction_of_reads_answers_each_item_in_place(ddb, songs):
    answer = ddb.execute_transaction(TransactStatements=[
        {"Statement": f"SELECT title FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = ? AND sk = ?", "Parameters": [{"S": "no"}, {"N": "1"}]},
    ], ReturnConsumedCapacity="TOTAL")
    assert answer["Responses"] == [{"Item": {"title": {"S": "Alpha"}}}, {}]
    assert answer["ConsumedCapacity"][0]["ReadCapacityUnits"] == 4.0


def test_transaction_refusals(ddb, unchecked, songs):
    mixed = _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
        {"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
    ]))
    assert mixed.response["Error"]["Message"] == (
        "ExecuteTransaction API does not support both read and write operations in the same request."
    )
    malformed = _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE"},
    ]))
    assert malformed.response["Error"]["Message"] == f"Validation failed in TransactStatements[1]: {NOT_WELL_FORMED}Unexpected term"
    twice = _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"UPDATE \"{songs}\" SET a = 1 WHERE pk = 'band' AND sk = 1"},
        {"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'band' AND sk = 1"},
    ]))
    assert twice.response["Error"]["Message"] == "Transaction request cannot include multiple operations on one item"
    _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"SELECT * FROM \"{songs}\" WHERE pk = 'band'"},
    ]))
    _refused(lambda: ddb.execute_transaction(TransactStatements=[
        {"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'band' AND sk = 1 RETURNING ALL OLD *"},
    ]))
    too_many = [{"Statement": f"DELETE FROM \"{songs}\" WHERE pk = 'a' AND sk = {n}"} for n in range(101)]
    assert "Member must have length less than or equal to 100" in _refused(
        lambda: unchecked.execute_transaction(TransactStatements=too_many)).response["Error"]["Message"]


def test_a_client_request_token_applies_a_transaction_once(ddb, songs):
    token = str(uuid.uuid4())
    counter = [{"Statement": f"UPDATE \"{songs}\" SET plays = plays + 1 WHERE pk = 'solo' AND sk = 1"}]
    ddb.execute_transaction(TransactStatements=counter, ClientRequestToken=token)
    ddb.execute_transaction(TransactStatements=counter, ClientRequestToken=token)
    assert _items(ddb, f"SELECT plays FROM \"{songs}\" WHERE pk = 'solo' AND sk = 1") == [{"plays": {"N": "13"}}]
    other = [{"Statement": f"UPDATE \"{songs}\" SET plays = 0 WHERE pk = 'solo' AND sk = 1"}]
    _refused(lambda: ddb.execute_transaction(TransactStatements=other, ClientRequestToken=token),
             "IdempotentParameterMismatchException")


# ---- random statements against the expression path ---------------------------------------

_NAMES = ("a", "b", "m")
# Placeholders are numbered across every condition drawn, so two branches never share one.
_PLACEHOLDERS = itertools.count()
_VALUES = (("1", {"N": "1"}), ("2", {"N": "2"}), ("'x'", {"S": "x"}), ("'xy'", {"S": "xy"}))


@st.composite
def _conditions(draw, depth: int = 0):
    """A PartiQL condition, the same condition as a FilterExpression, and its values."""
    values: dict = {}

    def value() -> tuple[str, str]:
        literal, wire = draw(st.sampled_from(_VALUES))
        placeholder = f":p{next(_PLACEHOLDERS)}"
        values[placeholder] = wire
        return literal, placeholder

    kind = draw(st.sampled_from(["compare", "between", "in", "missing", "begins", "size", "and", "or", "not"]
                                if depth < 3 else ["compare", "missing", "begins"]))
    name = draw(st.sampled_from(_NAMES))
    if kind == "compare":
        operator = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        literal, placeholder = value()
        return f"{name} {operator} {literal}", f"{name} {operator} {placeholder}", values
    if kind == "between":
        (low, low_ph), (high, high_ph) = value(), value()
        return f"{name} BETWEEN {low} AND {high}", f"{name} BETWEEN {low_ph} AND {high_ph}", values
    if kind == "in":
        options = [value() for _ in range(draw(st.integers(1, 3)))]
        return (f"{name} IN [{', '.join(o[0] for o in options)}]",
                f"{name} IN ({', '.join(o[1] for o in options)})", values)
    if kind == "missing":
        negated = draw(st.booleans())
        return (f"{name} IS {'NOT ' if negated else ''}MISSING",
                f"attribute_{'exists' if negated else 'not_exists'}({name})", values)
    if kind == "begins":
        literal, placeholder = value()
        return f"begins_with({name}, {literal})", f"begins_with({name}, {placeholder})", values
    if kind == "size":
        literal, placeholder = value()
        return f"size({name}) > {literal}", f"size({name}) > {placeholder}", values
    left = draw(_conditions(depth + 1))
    if kind == "not":
        return f"NOT ({left[0]})", f"NOT ({left[1]})", left[2]
    right = draw(_conditions(depth + 1))
    word = kind.upper()
    return f"({left[0]}) {word} ({right[0]})", f"({left[1]}) {word} ({right[1]})", {**left[2], **right[2]}


_ITEM_VALUES = st.sampled_from([{"N": "1"}, {"N": "2"}, {"N": "3"}, {"S": "x"}, {"S": "xy"}, {"S": "y"},
                                {"L": [{"N": "1"}]}, {"SS": ["x", "y"]}])


@pytest.fixture(scope="module")
def model_table(ddb):
    name = f"partiql-model-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    yield name
    ddb.delete_table(TableName=name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.dictionaries(st.sampled_from(_NAMES), _ITEM_VALUES, max_size=3), max_size=6),
       condition=_conditions())
def test_random_selects_equal_the_scan_with_the_same_filter(ddb, model_table, items, condition):
    statement_where, filter_expression, values = condition
    for pk in ddb.execute_statement(Statement=f"SELECT pk FROM \"{model_table}\"")["Items"]:
        ddb.execute_statement(Statement=f"DELETE FROM \"{model_table}\" WHERE pk = ?", Parameters=[pk["pk"]])
    for n, attributes in enumerate(items):
        ddb.put_item(TableName=model_table, Item={"pk": {"S": f"k{n}"}, **attributes})
    scan = {"TableName": model_table, "FilterExpression": filter_expression, "ConsistentRead": True}
    if values:
        scan["ExpressionAttributeValues"] = values
    try:
        expected = sorted(item["pk"]["S"] for item in ddb.scan(**scan)["Items"])
    except ClientError as refusal:
        _refused(lambda: ddb.execute_statement(Statement=f"SELECT * FROM \"{model_table}\" WHERE {statement_where}"),
                 refusal.response["Error"]["Code"])
        return
    selected = _items(ddb, f"SELECT pk FROM \"{model_table}\" WHERE {statement_where}", ConsistentRead=True)
    assert sorted(item["pk"]["S"] for item in selected) == expected


def test_a_sort_key_condition_narrows_what_a_partition_read_reads(ddb, range_table):
    for sk in range(1, 5):
        ddb.execute_statement(Statement=f"INSERT INTO \"{range_table}\" VALUE {{'pk': 'p', 'sk': ?, 'pad': ?}}",
                              Parameters=[{"N": str(sk)}, {"S": "x" * 3000}])

    def read(where: str) -> tuple[list[str], float]:
        answer = ddb.execute_statement(Statement=f"SELECT sk FROM \"{range_table}\" WHERE {where}",
                                       ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
        return [item["sk"]["N"] for item in answer["Items"]], answer["ConsumedCapacity"]["CapacityUnits"]

    assert read("pk = 'p'") == (["1", "2", "3", "4"], 3.0)
    assert read("pk = 'p' AND sk >= 4") == (["4"], 1.0)
    assert read("3 > sk AND pk = 'p'") == (["1", "2"], 2.0)
    assert read("pk = 'p' AND sk BETWEEN 2 AND 3 AND sk <> 3") == (["2"], 2.0)
    _refused(lambda: read("pk = 'p' AND begins_with(sk, 1)"))
    assert read("pk = 'p' AND sk > 'text'")[0] == []
    message = _refused(lambda: read("pk = 1")).response["Error"]["Message"]
    assert message == "One or more parameter values were invalid: Condition parameter type does not match schema type"


def test_a_follower_forwards_statements_to_its_leader(tmp_path):
    cluster = Cluster(tmp_path / "cluster", follower_count=1).start()
    try:
        follower = client_for(cluster.followers[0].url)
        create_hash_table(follower, "forwarded")
        follower.execute_statement(Statement="INSERT INTO forwarded VALUE {'pk': 'a', 'n': 1}")
        follower.execute_transaction(TransactStatements=[
            {"Statement": "UPDATE forwarded SET n = n + 1 WHERE pk = 'a'"},
            {"Statement": "INSERT INTO forwarded VALUE {'pk': 'b'}"},
        ])
        follower.batch_execute_statement(Statements=[{"Statement": "DELETE FROM forwarded WHERE pk = 'b'"}])
        leader = client_for(cluster.leader.url)
        assert _items(leader, "SELECT * FROM forwarded") == [{"pk": {"S": "a"}, "n": {"N": "2"}}]
        cluster.wait_caught_up()
        assert _items(follower, "SELECT n FROM forwarded WHERE pk = 'a'") == [{"n": {"N": "2"}}]
    finally:
        cluster.stop()


def test_a_partition_read_pages_backwards_with_next_token(ddb, songs):
    statement = f"SELECT sk FROM \"{songs}\" WHERE pk = 'band' ORDER BY sk DESC"
    seen, token = [], None
    while True:
        answer = ddb.execute_statement(Statement=statement, Limit=2, **({"NextToken": token} if token else {}))
        seen.extend(item["sk"]["N"] for item in answer["Items"])
        token = answer.get("NextToken")
        if token is None:
            break
    assert seen == ["3", "2", "1"]


def test_in_and_or_over_whole_keys_read_those_keys_only(ddb, songs):
    def read(where: str, **options) -> tuple[list[tuple[str, str]], float]:
        answer = ddb.execute_statement(Statement=f"SELECT pk, sk FROM \"{songs}\" WHERE {where}",
                                       ConsistentRead=True, ReturnConsumedCapacity="TOTAL", **options)
        keys = sorted((i["pk"]["S"], i["sk"]["N"]) for i in answer["Items"])
        return keys, answer["ConsumedCapacity"]["CapacityUnits"]

    assert read("plays > 0") == ([("band", "1"), ("band", "2"), ("band", "3"), ("solo", "1")], 4.0)
    assert read("pk IN ['band', 'solo'] AND sk = 1") == ([("band", "1"), ("solo", "1")], 1.0)
    assert read("pk = 'band' AND sk IN [3, 1, 9]")[0] == [("band", "1"), ("band", "3")]
    assert read("pk = 'solo' AND sk = 1 OR pk = 'band' AND sk = 2 AND plays = 3")[0] == [("band", "2"), ("solo", "1")]
    assert read("pk = 'solo' AND sk = 1 OR pk = 'band' AND sk = 2 AND plays = 4")[0] == [("solo", "1")]
    first = ddb.execute_statement(Statement=f"SELECT sk FROM \"{songs}\" WHERE pk = 'band' AND sk IN [1, 2, 3]", Limit=2)
    rest = ddb.execute_statement(Statement=f"SELECT sk FROM \"{songs}\" WHERE pk = 'band' AND sk IN [1, 2, 3]",
                                 NextToken=first["NextToken"])
    assert sorted(i["sk"]["N"] for i in first["Items"] + rest["Items"]) == ["1", "2", "3"]
    assert "NextToken" not in rest


_KEYS_OF_MODEL = [f"k{n}" for n in range(6)]


@st.composite
def _key_conditions(draw):
    """A WHERE that names whole keys (by IN, or an OR of equalities), with or without a
    condition on another attribute, and the same as a FilterExpression."""
    values: dict = {}

    def key_value() -> tuple[str, str]:
        pk = draw(st.sampled_from(_KEYS_OF_MODEL))
        placeholder = f":p{next(_PLACEHOLDERS)}"
        values[placeholder] = {"S": pk}
        return f"'{pk}'", placeholder

    def other() -> tuple[str, str]:
        placeholder = f":p{next(_PLACEHOLDERS)}"
        values[placeholder] = {"N": "1"}
        return "a = 1", f"a = {placeholder}"

    if draw(st.booleans()):
        options = [key_value() for _ in range(draw(st.integers(1, 4)))]
        statement, expression = (f"pk IN [{', '.join(o[0] for o in options)}]",
                                 f"pk IN ({', '.join(o[1] for o in options)})")
        if draw(st.booleans()):
            extra = other()
            statement, expression = f"{statement} AND {extra[0]}", f"{expression} AND {extra[1]}"
        return statement, expression, values
    branches = []
    for _ in range(draw(st.integers(1, 3))):
        literal, placeholder = key_value()
        branch = (f"pk = {literal}", f"pk = {placeholder}")
        if draw(st.booleans()):
            extra = other()
            branch = (f"{branch[0]} AND {extra[0]}", f"{branch[1]} AND {extra[1]}")
        branches.append(branch)
    return (" OR ".join(f"({b[0]})" for b in branches), " OR ".join(f"({b[1]})" for b in branches), values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(present=st.dictionaries(st.sampled_from(_KEYS_OF_MODEL), st.sampled_from([{"N": "1"}, {"N": "2"}])),
       condition=_key_conditions(), limit=st.sampled_from([None, 1, 2]))
def test_random_reads_by_keys_equal_the_scan_with_the_same_filter(ddb, model_table, present, condition, limit):
    statement_where, filter_expression, values = condition
    for pk in _KEYS_OF_MODEL:
        ddb.delete_item(TableName=model_table, Key={"pk": {"S": pk}})
    for pk, a in present.items():
        ddb.put_item(TableName=model_table, Item={"pk": {"S": pk}, "a": a})
    scanned = ddb.scan(TableName=model_table, FilterExpression=filter_expression, ExpressionAttributeValues=values,
                       ConsistentRead=True)["Items"]
    selected, token = [], None
    while True:
        options = {"Limit": limit} if limit else {}
        answer = ddb.execute_statement(Statement=f"SELECT pk FROM \"{model_table}\" WHERE {statement_where}",
                                       ConsistentRead=True, **options, **({"NextToken": token} if token else {}))
        selected.extend(item["pk"]["S"] for item in answer["Items"])
        token = answer.get("NextToken")
        if token is None:
            break
    assert sorted(selected) == sorted(item["pk"]["S"] for item in scanned)
