"""Recursive-descent parser for every DynamoDB expression kind.

Syntax errors stop the parse at once, worded as DynamoDB words them. Semantic problems
(reserved words, undefined ``#names``, misused functions, overlapping paths, ...) are
collected while parsing and the most important one is reported, in DynamoDB's order.
Checks that depend on ExpressionAttributeValues become ``ValueRule``s, run per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dynovault.errors import ValidationException
from dynovault.expressions import nodes
from dynovault.expressions.paths import Path, overlap_problem, path_text
from dynovault.expressions.reserved import is_reserved
from dynovault.expressions.semantics import compare, describe
from dynovault.expressions.tokens import (
    EOF,
    IDENT,
    INDEX,
    NAME_REF,
    PUNCT,
    VALUE_REF,
    Token,
    tokenize,
)
from dynovault.values.types import SET_TAGS, TYPE_WORDS, type_of

COMPARATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})
ORDERING_COMPARATORS = frozenset({"<", "<=", ">", ">="})
# What <, <=, >, >= and BETWEEN can compare.
ORDERED_TYPES = frozenset({"S", "N", "B"})
CONDITION_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
UPDATE_SECTIONS = ("SET", "REMOVE", "ADD", "DELETE")
CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
    "size": 1,
}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
PATH_FUNCTIONS = frozenset({"attribute_exists", "attribute_not_exists", "attribute_type", "if_not_exists"})
ATTRIBUTE_TYPE_NAMES = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
MAX_IN_OPERANDS = 100
# A document path reaches at most 32 levels down, as documents nest at most 32 deep.
MAX_PATH_LEVELS = 32
MAX_EXPRESSION_BYTES = 4096
TOO_LARGE = "Expression size has exceeded the maximum allowed size;"
# The order in which DynamoDB reports the problems of an expression that has several.
PROBLEM_ORDER = (
    "parentheses",
    "unknown_function",
    "misused_function",
    "reserved",
    "section",
    "undefined_name",
    "nesting",
    "operand_count",
    "distinct",
    "overlap",
    "conflict",
    "operand_type",
    "function",
)

Values = nodes.Values
ValueRule = Callable[[Values], str | None]


def expression_error(kind: str, detail: str) -> ValidationException:
    return ValidationException(f"Invalid {kind}: {detail}")


class _SyntaxFailure(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


@dataclass(frozen=True, slots=True)
class _Call:
    """A function call before the parser knows whether it is an operand or a condition."""

    name: str
    arguments: tuple


@dataclass
class Parsed:
    """What a parse yields besides its tree: the placeholders it used and its value rules."""

    names_used: set[str] = field(default_factory=set)
    values_used: dict[str, None] = field(default_factory=dict)
    rules: list[ValueRule] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def _matching_parentheses(tokens: list[Token]) -> dict[int, int]:
    """Index of each opening parenthesis → index of the one that closes it."""
    closing, open_indexes = {}, []
    for index, token in enumerate(tokens):
        if token.kind == PUNCT and token.text == "(":
            open_indexes.append(index)
        elif token.kind == PUNCT and token.text == ")" and open_indexes:
            closing[open_indexes.pop()] = index
    return closing


class Parser:
    def __init__(self, text: str, kind: str, names: dict[str, str] | None) -> None:
        if not text.strip():
            raise expression_error(kind, "The expression can not be empty;")
        size = len(text.encode())
        if size > MAX_EXPRESSION_BYTES:
            raise expression_error(kind, f"{TOO_LARGE} expression size: {size}")
        self.text = text
        self.kind = kind
        self.names = names or {}
        self.tokens = tokenize(text)
        self.closing = _matching_parentheses(self.tokens)
        self.pos = 0
        self.problems: dict[str, str] = {}
        self.parsed = Parsed()

    # ---- entry points ------------------------------------------------------------------

    def projection(self) -> list[Path]:
        paths = self._run(lambda: self._comma_list(self.path))
        self._check_overlaps(paths)
        self._raise_problems()
        return paths

    def condition(self) -> nodes.Condition:
        tree = self._run(self._disjunction)
        self._raise_problems()
        return tree

    def update(self) -> list:
        actions = self._run(self._update_sections)
        self._check_overlaps([action.path for action in actions])
        self._raise_problems()
        return actions

    def _run(self, parse: Callable):
        try:
            result = parse()
            if self._peek().kind != EOF:
                raise _SyntaxFailure(self.pos)
        except _SyntaxFailure as failure:
            raise self._syntax_error(failure.index) from None
        except RecursionError:
            raise expression_error(self.kind, TOO_LARGE) from None
        return result

    # ---- tokens ------------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _advance(self) -> Token:
        token = self._peek()
        self.pos += 1
        return token

    def _at(self, text: str) -> bool:
        token = self._peek()
        return token.kind == PUNCT and token.text == text

    def _expect(self, text: str) -> None:
        if not self._at(text):
            raise _SyntaxFailure(self.pos)
        self.pos += 1

    def _syntax_error(self, index: int) -> ValidationException:
        index = min(index, len(self.tokens) - 1)
        token = self.tokens[index]
        start = self.tokens[index - 1].start if index > 0 else token.start
        following = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
        end = following.end if following is not None and following.kind != EOF else token.end
        near = self.text[start:end]
        return expression_error(self.kind, f'Syntax error; token: "{token.display()}", near: "{near}"')

    # ---- problems ----------------------------------------------------------------------

    def _note(self, category: str, message: str) -> None:
        self.problems.setdefault(category, message)

    def _raise_problems(self) -> None:
        for category in PROBLEM_ORDER:
            if category in self.problems:
                raise expression_error(self.kind, self.problems[category])

    def _check_overlaps(self, paths: list[Path]) -> None:
        problem = overlap_problem(paths)
        if problem is not None:
            self._note(*problem)

    # ---- paths -------------------------------------------------------------------------

    def _comma_list(self, parse: Callable) -> list:
        items = [parse()]
        while self._at(","):
            self.pos += 1
            items.append(parse())
        return items

    def path(self) -> Path:
        elements: list = [self._path_element()]
        while True:
            if self._at("."):
                self.pos += 1
                elements.append(self._path_element())
            elif self._at("["):
                self.pos += 1
                token = self._advance()
                if token.kind != INDEX:
                    raise _SyntaxFailure(self.pos - 1)
                self._expect("]")
                elements.append(int(token.text))
            else:
                if len(elements) > MAX_PATH_LEVELS:
                    self._note(
                        "nesting", f"The document path has too many nesting levels; nesting levels: {len(elements)}"
                    )
                path = tuple(elements)
                self.parsed.paths.append(path)
                return path

    def _path_element(self) -> str:
        token = self._advance()
        if token.kind == IDENT:
            if self.kind != "ProjectionExpression" and token.text.upper() in self._keywords():
                raise _SyntaxFailure(self.pos - 1)
            if is_reserved(token.text):
                self._note("reserved", f"Attribute name is a reserved keyword; reserved keyword: {token.text}")
            return token.text
        if token.kind == NAME_REF:
            name = self.names.get(token.text)
            if name is None:
                self._note(
                    "undefined_name",
                    f"An expression attribute name used in the document path is not defined; attribute name: {token.text}",
                )
                return token.text
            self.parsed.names_used.add(token.text)
            return name
        raise _SyntaxFailure(self.pos - 1)

    def _keywords(self) -> frozenset[str]:
        return frozenset(UPDATE_SECTIONS) if self.kind == "UpdateExpression" else CONDITION_KEYWORDS

    def _value(self) -> nodes.ValueOperand:
        token = self._advance()
        if token.kind != VALUE_REF:
            raise _SyntaxFailure(self.pos - 1)
        self.parsed.values_used[token.text] = None
        self._defined_rule(token.text)
        return nodes.ValueOperand(token.text)

    # ---- conditions ----------------------------------------------------------------------

    def _disjunction(self) -> nodes.Condition:
        left = self._conjunction()
        while self._peek().is_word("OR"):
            self.pos += 1
            left = nodes.Or(left, self._conjunction())
        return left

    def _conjunction(self) -> nodes.Condition:
        left = self._negation()
        while self._peek().is_word("AND"):
            self.pos += 1
            left = nodes.And(left, self._negation())
        return left

    def _negation(self) -> nodes.Condition:
        if self._peek().is_word("NOT"):
            self.pos += 1
            return nodes.Not(self._negation())
        return self._primary()

    def _primary(self) -> nodes.Condition:
        if not self._at("("):
            return self._predicate()
        snapshot = (self.pos, dict(self.problems), len(self.parsed.rules))
        grouped_failure = None
        try:
            self.pos += 1
            if self._at("(") and self._redundant_group():
                self._note("parentheses", "The expression has redundant parentheses;")
            tree = self._disjunction()
            self._expect(")")
            if not self._continues_predicate():
                return tree
        except _SyntaxFailure as failure:
            grouped_failure = failure
        self.pos, self.problems, rules = snapshot
        del self.parsed.rules[rules:]
        try:
            return self._predicate()
        except _SyntaxFailure as failure:
            if grouped_failure is not None and grouped_failure.index > failure.index:
                raise grouped_failure from None
            raise

    def _redundant_group(self) -> bool:
        """``((x))``: an opening parenthesis whose group closes right before ours does."""
        inner_close = self.closing.get(self.pos)
        return inner_close is not None and self.closing.get(self.pos - 1) == inner_close + 1

    def _continues_predicate(self) -> bool:
        token = self._peek()
        return (token.kind == PUNCT and token.text in COMPARATORS) or token.is_word("BETWEEN") or token.is_word("IN")

    def _predicate(self) -> nodes.Condition:
        left = self._condition_operand()
        token = self._peek()
        if token.kind == PUNCT and token.text in COMPARATORS:
            self.pos += 1
            right = self._condition_operand()
            operands = (self._as_operand(left), self._as_operand(right))
            self._check_distinct(token.text, operands)
            if token.text in ORDERING_COMPARATORS:
                for operand in operands:
                    self._type_rule(operand, token.text, ORDERED_TYPES.__contains__)
            return nodes.Comparison(token.text, *operands)
        if token.is_word("BETWEEN"):
            self.pos += 1
            low = self._condition_operand()
            if not self._peek().is_word("AND"):
                raise _SyntaxFailure(self.pos)
            self.pos += 1
            high = self._condition_operand()
            operands = (self._as_operand(left), self._as_operand(low), self._as_operand(high))
            for operand in operands:
                self._type_rule(operand, "BETWEEN", ORDERED_TYPES.__contains__)
            self._between_rule(operands[1], operands[2])
            return nodes.Between(*operands)
        if token.is_word("IN"):
            self.pos += 1
            self._expect("(")
            options = self._comma_list(self._condition_operand)
            self._expect(")")
            if len(options) > MAX_IN_OPERANDS:
                self._note(
                    "operand_count",
                    f"The IN operator is provided with too many operands; number of operands: {len(options)}",
                )
            return nodes.In(self._as_operand(left), tuple(self._as_operand(o) for o in options))
        if isinstance(left, _Call):
            return self._function_condition(left)
        raise _SyntaxFailure(self.pos)

    def _condition_operand(self):
        if self._at("("):
            self.pos += 1
            operand = self._condition_operand()
            self._expect(")")
            return operand
        token = self._peek()
        if token.kind == VALUE_REF:
            return self._value()
        if token.kind == IDENT and self._peek(1).kind == PUNCT and self._peek(1).text == "(":
            return self._call(self._condition_operand)
        return nodes.PathOperand(self.path())

    def _call(self, argument: Callable) -> _Call:
        name = self._advance().text
        self._expect("(")
        arguments = tuple(self._comma_list(argument))
        self._expect(")")
        return _Call(name, arguments)

    def _as_operand(self, operand) -> nodes.Operand:
        """A condition operand: only ``size`` of all functions yields a value."""
        if not isinstance(operand, _Call):
            return operand
        if self._known_function(operand, CONDITION_FUNCTIONS) and operand.name != "size":
            self._note(
                "misused_function",
                f"The function is not allowed to be used this way in an expression; function: {operand.name}",
            )
        argument = self._as_operand(operand.arguments[0])
        if isinstance(argument, nodes.ValueOperand):
            self._type_rule(argument, "size", lambda tag: tag not in ("N", "BOOL", "NULL"))
        return nodes.Size(argument)

    def _known_function(self, call: _Call, functions: dict[str, int]) -> bool:
        expected = functions.get(call.name)
        if expected is None:
            self._note("unknown_function", f"Invalid function name; function: {call.name}")
            return False
        if expected != len(call.arguments):
            self._note(
                "operand_count",
                "Incorrect number of operands for operator or function; "
                f"operator or function: {call.name}, number of operands: {len(call.arguments)}",
            )
            return False
        return True

    def _function_condition(self, call: _Call) -> nodes.Condition:
        placeholder = nodes.AttributeExists(nodes.PathOperand(("",)), True)
        if not self._known_function(call, CONDITION_FUNCTIONS):
            return placeholder
        if call.name == "size":
            self._note(
                "misused_function",
                "The function is not allowed to be used this way in an expression; function: size",
            )
            return placeholder
        arguments = tuple(self._as_operand(a) for a in call.arguments)
        if call.name in PATH_FUNCTIONS and not isinstance(arguments[0], nodes.PathOperand):
            self._note(
                "function",
                f"Operator or function requires a document path; operator or function: {call.name}",
            )
            arguments = (nodes.PathOperand(("",)),) + arguments[1:]
        if len(arguments) == 2:
            self._check_distinct(call.name, arguments)
        if call.name in ("attribute_exists", "attribute_not_exists"):
            return nodes.AttributeExists(arguments[0], call.name == "attribute_exists")
        if call.name == "attribute_type":
            self._attribute_type_rule(arguments[1])
            return nodes.AttributeType(*arguments)
        if call.name == "begins_with":
            for argument in arguments:
                self._type_rule(argument, "begins_with", lambda tag: tag in ("S", "B"))
            return nodes.BeginsWith(*arguments)
        return nodes.Contains(*arguments)

    def _check_distinct(self, operator: str, operands: tuple) -> None:
        first, second = operands[0], operands[1]
        if isinstance(first, nodes.PathOperand) and first == second:
            self._note(
                "distinct",
                "The first operand must be distinct from the remaining operands for this operator or "
                f"function; operator: {operator}, first operand: {path_text(first.path)}",
            )

    # ---- value rules -------------------------------------------------------------------
    # Rules run in the order the expression is written, so the first problem DynamoDB
    # meets (an undefined value or an operand of a wrong type) is the one reported.

    def _defined_rule(self, name: str) -> None:
        def rule(values: Values) -> str | None:
            if name in values:
                return None
            return f"An expression attribute value used in expression is not defined; attribute value: {name}"

        self.parsed.rules.append(rule)

    def _type_rule(self, operand, function: str, allowed: Callable[[str], bool], words: bool = False) -> None:
        if not isinstance(operand, nodes.ValueOperand):
            return
        name = operand.name
        label = "operator" if words else "operator or function"

        def rule(values: Values) -> str | None:
            tag = type_of(values[name])
            if allowed(tag):
                return None
            shown = TYPE_WORDS[tag] if words else tag
            return f"Incorrect operand type for operator or function; {label}: {function}, operand type: {shown}"

        self.parsed.rules.append(rule)

    def _attribute_type_rule(self, operand) -> None:
        if not isinstance(operand, nodes.ValueOperand):
            return
        name = operand.name

        def rule(values: Values) -> str | None:
            value = values[name]
            if "S" not in value:
                return (
                    "Incorrect operand type for operator or function; "
                    f"operator or function: attribute_type, operand type: {type_of(value)}"
                )
            if value["S"] not in ("S", "N", "B", "NULL", "SS", "BOOL", "L", "BS", "NS", "M"):
                return f"Invalid attribute type name found; type: {value['S']}, valid types: {ATTRIBUTE_TYPE_NAMES}"
            return None

        self.parsed.rules.append(rule)

    def _between_rule(self, low, high) -> None:
        if not (isinstance(low, nodes.ValueOperand) and isinstance(high, nodes.ValueOperand)):
            return

        def rule(values: Values) -> str | None:
            lower, upper = values[low.name], values[high.name]
            bounds = f"lower bound operand: {describe(lower)}, upper bound operand: {describe(upper)}"
            if type_of(lower) != type_of(upper):
                return f"The BETWEEN operator requires same data type for lower and upper bounds; {bounds}"
            if compare(">", lower, upper):
                return f"The BETWEEN operator requires upper bound to be greater than or equal to lower bound; {bounds}"
            return None

        self.parsed.rules.append(rule)

    # ---- update expressions ----------------------------------------------------------------

    def _update_sections(self) -> list:
        actions: list = []
        seen: set[str] = set()
        while self._peek().kind != EOF:
            token = self._advance()
            section = token.text.upper() if token.kind == IDENT else ""
            if section not in UPDATE_SECTIONS:
                raise _SyntaxFailure(self.pos - 1)
            if section in seen:
                self._note("section", f'The "{section}" section can only be used once in an update expression;')
            seen.add(section)
            actions.extend(self._comma_list(getattr(self, f"_{section.lower()}_action")))
        return actions

    def _set_action(self) -> nodes.SetAction:
        path = self.path()
        self._expect("=")
        return nodes.SetAction(path, self._set_value())

    def _remove_action(self) -> nodes.RemoveAction:
        return nodes.RemoveAction(self.path())

    def _add_action(self) -> nodes.AddAction:
        path = self.path()
        value = self._value()
        self._type_rule(value, "ADD", lambda tag: tag == "N" or tag in SET_TAGS, words=True)
        return nodes.AddAction(path, value)

    def _delete_action(self) -> nodes.DeleteAction:
        path = self.path()
        value = self._value()
        self._type_rule(value, "DELETE", lambda tag: tag in SET_TAGS, words=True)
        return nodes.DeleteAction(path, value)

    def _set_value(self) -> nodes.Operand:
        left = self._update_operand()
        token = self._peek()
        if token.kind == PUNCT and token.text in ("+", "-"):
            self.pos += 1
            right = self._update_operand()
            for operand in (left, right):
                self._type_rule(operand, token.text, lambda tag: tag == "N")
            return nodes.Arithmetic(token.text, left, right)
        return left

    def _update_operand(self) -> nodes.Operand:
        if self._at("("):
            self.pos += 1
            operand = self._set_value()
            self._expect(")")
            return operand
        token = self._peek()
        if token.kind == VALUE_REF:
            return self._value()
        if token.kind == IDENT and self._peek(1).kind == PUNCT and self._peek(1).text == "(":
            return self._update_function(self._call(self._update_operand))
        return nodes.PathOperand(self.path())

    def _update_function(self, call: _Call) -> nodes.Operand:
        placeholder = nodes.PathOperand(("",))
        if not self._known_function(call, UPDATE_FUNCTIONS):
            return placeholder
        first, second = call.arguments
        if call.name == "if_not_exists":
            if not isinstance(first, nodes.PathOperand):
                self._note(
                    "function",
                    "Operator or function requires a document path; operator or function: if_not_exists",
                )
                first = placeholder
            return nodes.IfNotExists(first, second)
        for operand in (first, second):
            self._type_rule(operand, "list_append", lambda tag: tag == "L")
        return nodes.ListAppend(first, second)
