"""The expression tokenizer: one token kind per lexical class DynamoDB's grammar knows.

Characters the grammar has no use for become one-character ``INVALID`` tokens so the
parser reports them as DynamoDB does (``Syntax error; token: "!"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENT = "IDENT"
NAME_REF = "NAME_REF"
VALUE_REF = "VALUE_REF"
INDEX = "INDEX"
PUNCT = "PUNCT"
INVALID = "INVALID"
EOF = "EOF"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<NAME_REF>\#[A-Za-z0-9_]*)
    | (?P<VALUE_REF>:[A-Za-z0-9_]*)
    | (?P<IDENT>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<INDEX>[0-9]+)
    | (?P<PUNCT><=|>=|<>|[=<>()\[\],.+-])
    | (?P<INVALID>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int
    end: int

    def is_word(self, word: str) -> bool:
        """Keywords (AND, SET, BETWEEN, ...) match case-insensitively."""
        return self.kind == IDENT and self.text.upper() == word

    def display(self) -> str:
        return "<EOF>" if self.kind == EOF else self.text


def tokenize(text: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind != "space":
            tokens.append(Token(kind, match.group(), match.start(), match.end()))
    tokens.append(Token(EOF, "", len(text), len(text)))
    return tokens
