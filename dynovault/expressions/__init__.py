"""DynamoDB's expression language: tokenizer → parser → AST → evaluator.

Every expression is compiled once per (text, ExpressionAttributeNames) and cached; the
compiled form evaluates directly on decoded wire-form items.
"""

from dynovault.expressions.compiled import (
    Compiled,
    ConditionExpression,
    Projection,
    UpdateExpression,
    check_unused,
    compile_condition,
    compile_projection,
    compile_update,
    projection_of_attributes,
)

__all__ = [
    "Compiled",
    "ConditionExpression",
    "Projection",
    "UpdateExpression",
    "check_unused",
    "compile_condition",
    "compile_projection",
    "compile_update",
    "projection_of_attributes",
]
