"""The PartiQL tokenizer: words, "quoted names", 'strings', numbers and punctuation.

Comments (``--`` to the end of a line, ``/* ... */``) and white space separate tokens and
are dropped. Text the grammar cannot read stops tokenizing with DynamoDB's refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dynovault.partiql.errors import not_well_formed

WORD = "WORD"
QUOTED = "QUOTED"
STRING = "STRING"
NUMBER = "NUMBER"
PUNCT = "PUNCT"
EOF = "EOF"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*|/\*.*?\*/)
    | (?P<WORD>[A-Za-z_$][A-Za-z0-9_$]*)
    | (?P<QUOTED>"(?:[^"]|"")*")
    | (?P<STRING>'(?:[^']|'')*')
    | (?P<NUMBER>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<PUNCT><<|>>|<=|>=|<>|!=|[=<>()\[\]{},.:*?;+-])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int

    def is_word(self, word: str) -> bool:
        """Keywords match case-insensitively; a quoted name is never a keyword."""
        return self.kind == WORD and self.text.upper() == word

    def is_punct(self, text: str) -> bool:
        return self.kind == PUNCT and self.text == text

    @property
    def value(self) -> str:
        """The text a quoted name or a string stands for (doubled quotes are one)."""
        if self.kind == QUOTED:
            return self.text[1:-1].replace('""', '"')
        if self.kind == STRING:
            return self.text[1:-1].replace("''", "'")
        return self.text


def tokenize(text: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise not_well_formed("")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), match.start()))
        position = match.end()
    tokens.append(Token(EOF, "", len(text)))
    return tokens
