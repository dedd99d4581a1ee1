"""PartiQL as DynamoDB speaks it: tokenizer → parser → AST, and the AST written as
DynamoDB expressions, so statements run on the item operations' own expression code.

Parsed and prepared statements are cached by their text."""

from dynovault.partiql.prepared import Expressions, Prepared, parse_statement, prepare

__all__ = ["Expressions", "Prepared", "parse_statement", "prepare"]
