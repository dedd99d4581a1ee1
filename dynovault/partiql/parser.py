"""Recursive-descent parser for the PartiQL statements DynamoDB runs: SELECT, INSERT,
UPDATE, DELETE and, within a transaction, EXISTS(SELECT ...).

The first problem stops the parse and is worded as DynamoDB words it. Nesting is bounded
so that no input, however deep, exhausts the stack."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.partiql import errors, nodes
from dynovault.partiql.tokens import (
    EOF,
    NUMBER,
    PUNCT,
    QUOTED,
    STRING,
    WORD,
    Token,
    tokenize,
)

COMPARATORS = frozenset({"=", "<>", "!=", "<", "<=", ">", ">="})
# Words that cannot be an unquoted attribute or table name.
KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "BETWEEN", "MISSING", "NULL", "TRUE",
    "FALSE", "INSERT", "INTO", "VALUE", "VALUES", "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING",
    "EXISTS", "ORDER", "BY", "ASC", "DESC", "AS", "LIKE", "ALL", "MODIFIED", "OLD", "NEW",
    "UPSERT", "REPLACE", "GROUP", "HAVING", "LIMIT", "JOIN", "UNION", "CREATE", "DROP", "ALTER",
})
# Words that, where a term should start, DynamoDB calls an operator.
OPERATOR_WORDS = frozenset({"IS", "LIKE", "AND", "OR", "BETWEEN", "IN"})
CONDITION_FUNCTIONS = {
    "begins_with": 2, "contains": 2, "attribute_type": 2, "attribute_exists": 1, "attribute_not_exists": 1,
}
OPERAND_FUNCTIONS = {"size": 1, "list_append": 2, "set_add": 2, "set_delete": 2}
RETURNING = {("ALL", "OLD"): "ALL_OLD", ("MODIFIED", "OLD"): "UPDATED_OLD",
             ("ALL", "NEW"): "ALL_NEW", ("MODIFIED", "NEW"): "UPDATED_NEW"}
MAX_DEPTH = 64


def parse(text: str) -> nodes.Parsed:
    parser = _Parser(tokenize(text))
    statement = parser.statement()
    return nodes.Parsed(statement, parser.parameters)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.parameters = 0
        self.depth = 0

    # ---- token helpers ----------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != EOF:
            self.position += 1
        return token

    def accept_word(self, word: str) -> bool:
        if self.token.is_word(word):
            self.position += 1
            return True
        return False

    def accept_punct(self, text: str) -> bool:
        if self.token.is_punct(text):
            self.position += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise self.unexpected()

    def expect_punct(self, text: str) -> None:
        if not self.accept_punct(text):
            raise self.unexpected()

    def unexpected(self) -> ValidationException:
        """DynamoDB's words for the current token where something else had to be."""
        token = self.token
        if token.kind == WORD and token.text.upper() in OPERATOR_WORDS:
            return errors.not_well_formed(errors.UNEXPECTED_OPERATOR)
        if token.kind == WORD and token.text.upper() in KEYWORDS:
            return errors.not_well_formed(errors.UNEXPECTED_KEYWORD)
        if token.kind == PUNCT and token.text in COMPARATORS:
            return errors.not_well_formed(errors.UNEXPECTED_OPERATOR)
        if token.kind in (EOF, PUNCT):
            return errors.not_well_formed(errors.UNEXPECTED_TERM)
        return errors.not_well_formed(errors.LEFTOVER)

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise errors.not_well_formed("Nesting is too deep")

    # ---- statements ---------------------------------------------------------------------------

    def statement(self) -> nodes.Statement:
        token = self.token
        if token.is_word("SELECT"):
            statement = self.select()
        elif token.is_word("INSERT"):
            statement = self.insert()
        elif token.is_word("UPDATE"):
            statement = self.update()
        elif token.is_word("DELETE"):
            statement = self.delete()
        elif token.is_word("EXISTS"):
            statement = self.exists()
        elif token.kind == EOF:
            raise errors.not_well_formed(errors.UNEXPECTED_TERM)
        else:
            raise errors.not_well_formed("Expected data manipulation")
        self.accept_punct(";")
        if self.token.kind != EOF:
            raise errors.not_well_formed(errors.LEFTOVER)
        return statement

    def select(self) -> nodes.Select:
        self.expect_word("SELECT")
        projection = None if self.accept_punct("*") else self.projection()
        self.expect_word("FROM")
        if self.token.kind == EOF or self.token.is_punct(";"):
            raise errors.not_well_formed(errors.UNEXPECTED_TERM)
        table, index = self.target(allow_index=True)
        self.refuse_alias()
        where = self.condition() if self.accept_word("WHERE") else None
        order_by = self.order_by() if self.accept_word("ORDER") else ()
        return nodes.Select(table, index, projection, where, order_by)

    def projection(self) -> tuple[nodes.Path, ...]:
        paths = [self.path()]
        while self.accept_punct(","):
            paths.append(self.path())
        return tuple(paths)

    def order_by(self) -> tuple[tuple[nodes.Path, bool], ...]:
        self.expect_word("BY")
        order = []
        while True:
            path = self.path()
            descending = self.accept_word("DESC")
            if not descending:
                self.accept_word("ASC")
            order.append((path, descending))
            if not self.accept_punct(","):
                return tuple(order)

    def insert(self) -> nodes.Insert:
        self.expect_word("INSERT")
        self.expect_word("INTO")
        table, _ = self.target(allow_index=False)
        self.expect_word("VALUE")
        if not self.token.is_punct("{"):
            raise errors.not_well_formed("Expected a tuple in VALUE")
        return nodes.Insert(table, self.tuple_value())

    def update(self) -> nodes.Update:
        self.expect_word("UPDATE")
        table, _ = self.target(allow_index=False)
        self.refuse_alias()
        actions: list = []
        while True:
            if self.accept_word("SET"):
                actions.append(self.assignment())
                while self.accept_punct(","):
                    actions.append(self.assignment())
            elif self.accept_word("REMOVE"):
                actions.append(nodes.RemoveAction(self.path()))
                while self.accept_punct(","):
                    actions.append(nodes.RemoveAction(self.path()))
            else:
                break
        if not actions:
            raise self.unexpected()
        if not self.accept_word("WHERE"):
            raise errors.not_well_formed(errors.KEY_EQUALITY) if self.token.kind == EOF else self.unexpected()
        where = self.condition()
        return nodes.Update(table, tuple(actions), where, self.returning(allow_new=True))

    def assignment(self) -> nodes.SetAction:
        path = self.path()
        self.expect_punct("=")
        return nodes.SetAction(path, self.additive())

    def delete(self) -> nodes.Delete:
        self.expect_word("DELETE")
        self.expect_word("FROM")
        if self.token.kind not in (WORD, QUOTED) or self.token.text.upper() in KEYWORDS:
            raise errors.not_well_formed(errors.EXPECTED_IDENTIFIER)
        table, _ = self.target(allow_index=False)
        self.refuse_alias()
        self.expect_word("WHERE")
        where = self.condition()
        return nodes.Delete(table, where, self.returning(allow_new=False))

    def returning(self, allow_new: bool) -> str | None:
        if not self.accept_word("RETURNING"):
            return None
        first, second = self.advance(), self.advance()
        mode = RETURNING.get((first.text.upper(), second.text.upper()))
        if first.kind != WORD or second.kind != WORD or mode is None or (mode != "ALL_OLD" and not allow_new):
            raise errors.not_well_formed(errors.UNEXPECTED_TERM)
        self.expect_punct("*")
        return mode

    def exists(self) -> nodes.Exists:
        self.expect_word("EXISTS")
        self.expect_punct("(")
        select = self.select()
        self.expect_punct(")")
        return nodes.Exists(select)

    def target(self, allow_index: bool) -> tuple[str, str | None]:
        table = self.name()
        if allow_index and self.accept_punct("."):
            return table, self.name()
        return table, None

    def refuse_alias(self) -> None:
        token = self.token
        if token.is_word("AS") or (token.kind in (WORD, QUOTED) and token.text.upper() not in KEYWORDS):
            raise ValidationException(errors.ALIASING)

    def name(self) -> str:
        token = self.token
        if token.kind == QUOTED:
            self.position += 1
            return token.value
        if token.kind == WORD and token.text.upper() not in KEYWORDS:
            self.position += 1
            return token.text
        raise self.unexpected()

    def path(self) -> nodes.Path:
        elements: list[str | int] = [self.name()]
        while True:
            if self.accept_punct("."):
                elements.append(self.name())
            elif self.accept_punct("["):
                token = self.advance()
                if token.kind != NUMBER or not token.text.isdigit():
                    raise errors.not_well_formed(errors.UNEXPECTED_TERM)
                elements.append(int(token.text))
                self.expect_punct("]")
            else:
                return tuple(elements)

    # ---- conditions ---------------------------------------------------------------------------

    def condition(self) -> nodes.Condition:
        self.nested()
        left = self.conjunction()
        while self.accept_word("OR"):
            left = nodes.Or(left, self.right_side(self.conjunction))
        self.depth -= 1
        return left

    def conjunction(self) -> nodes.Condition:
        left = self.negation()
        while self.accept_word("AND"):
            left = nodes.And(left, self.right_side(self.negation))
        return left

    def right_side(self, parse_side):
        if self.token.kind == EOF or self.token.is_punct(";"):
            raise errors.not_well_formed(errors.MISSING_RIGHT_SIDE)
        return parse_side()

    def negation(self) -> nodes.Condition:
        if self.accept_word("NOT"):
            self.nested()
            operand = self.negation()
            self.depth -= 1
            return nodes.Not(operand)
        return self.predicate()

    def predicate(self) -> nodes.Condition:
        if self.accept_punct("("):
            inner = self.condition()
            self.expect_punct(")")
            return inner
        token = self.token
        if token.kind == WORD and token.text.lower() in CONDITION_FUNCTIONS and self.tokens[self.position + 1].is_punct("("):
            name = token.text.lower()
            self.position += 1
            return nodes.FunctionCondition(name, self.arguments(name, CONDITION_FUNCTIONS[name]))
        subject = self.additive()
        token = self.token
        if token.kind == PUNCT and token.text in COMPARATORS:
            self.position += 1
            operator = "<>" if token.text == "!=" else token.text
            return nodes.Comparison(operator, subject, self.right_side(self.additive))
        if self.accept_word("BETWEEN"):
            low = self.right_side(self.additive)
            self.expect_word("AND")
            return nodes.Between(subject, low, self.right_side(self.additive))
        if self.accept_word("IN"):
            return nodes.In(subject, self.in_options())
        if self.accept_word("IS"):
            return self.is_test(subject)
        if self.accept_word("NOT"):
            if self.accept_word("IN"):
                return nodes.Not(nodes.In(subject, self.in_options()))
            self.expect_word("BETWEEN")
            low = self.additive()
            self.expect_word("AND")
            return nodes.Not(nodes.Between(subject, low, self.additive()))
        raise self.unexpected()

    def in_options(self) -> tuple[nodes.Operand, ...]:
        closing = "]" if self.accept_punct("[") else ")" if self.accept_punct("(") else None
        if closing is None:
            raise self.unexpected()
        options = [self.additive()]
        while self.accept_punct(","):
            options.append(self.additive())
        self.expect_punct(closing)
        return tuple(options)

    def is_test(self, subject: nodes.Operand) -> nodes.Is:
        negated = self.accept_word("NOT")
        token = self.advance()
        what = token.text.upper() if token.kind == WORD else None
        if what not in ("MISSING", "NULL"):
            raise errors.not_well_formed(errors.EXPECTED_TYPE)
        if not isinstance(subject, nodes.PathRef):
            raise errors.unsupported("IS with an operand that is not a path")
        return nodes.Is(subject, what, negated)

    def arguments(self, name: str, count: int) -> tuple[nodes.Operand, ...]:
        self.expect_punct("(")
        self.nested()
        arguments = [self.additive()] if not self.token.is_punct(")") else []
        while self.accept_punct(","):
            arguments.append(self.additive())
        self.expect_punct(")")
        self.depth -= 1
        if len(arguments) != count:
            raise ValidationException(f"Incorrect number of arguments for function {name}: {len(arguments)}")
        return tuple(arguments)

    # ---- operands and values ----------------------------------------------------------------

    def additive(self) -> nodes.Operand:
        left = self.operand()
        while self.token.is_punct("+") or self.token.is_punct("-"):
            operator = self.advance().text
            left = nodes.Arithmetic(operator, left, self.right_side(self.operand))
        return left

    def operand(self) -> nodes.Operand:
        token = self.token
        if token.kind == WORD and token.text.lower() in OPERAND_FUNCTIONS and self.tokens[self.position + 1].is_punct("("):
            name = token.text.lower()
            self.position += 1
            return nodes.Call(name, self.arguments(name, OPERAND_FUNCTIONS[name]))
        if token.kind == QUOTED or (token.kind == WORD and token.text.upper() not in KEYWORDS):
            return nodes.PathRef(self.path())
        return self.value()

    def value(self) -> nodes.Value:
        token = self.token
        if token.kind == STRING:
            self.position += 1
            return nodes.Constant({"S": token.value})
        if token.kind == NUMBER:
            self.position += 1
            return nodes.Constant({"N": token.text})
        if token.is_punct("-") and self.tokens[self.position + 1].kind == NUMBER:
            self.position += 2
            return nodes.Constant({"N": "-" + self.tokens[self.position - 1].text})
        if token.is_punct("?"):
            self.position += 1
            self.parameters += 1
            return nodes.Parameter(self.parameters - 1)
        for word, constant in (("TRUE", {"BOOL": True}), ("FALSE", {"BOOL": False}), ("NULL", {"NULL": True})):
            if self.accept_word(word):
                return nodes.Constant(constant)
        if token.is_punct("{"):
            return self.tuple_value()
        if token.is_punct("["):
            return nodes.ListValue(self.elements("[", "]"))
        if token.is_punct("<<"):
            return nodes.SetValue(self.elements("<<", ">>"))
        raise self.unexpected()

    def tuple_value(self) -> nodes.TupleValue:
        self.expect_punct("{")
        self.nested()
        members = []
        if not self.token.is_punct("}"):
            while True:
                key = self.advance()
                if key.kind != STRING:
                    raise errors.not_well_formed(errors.UNEXPECTED_TERM)
                self.expect_punct(":")
                members.append((key.value, self.value()))
                if not self.accept_punct(","):
                    break
        self.expect_punct("}")
        self.depth -= 1
        return nodes.TupleValue(tuple(members))

    def elements(self, opening: str, closing: str) -> tuple[nodes.Value, ...]:
        self.expect_punct(opening)
        self.nested()
        elements = []
        if not self.token.is_punct(closing):
            elements.append(self.value())
            while self.accept_punct(","):
                elements.append(self.value())
        self.expect_punct(closing)
        self.depth -= 1
        return tuple(elements)
