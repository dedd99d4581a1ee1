"""Request rules several operations share that need the table but are not about items:
paths into key attributes and the ReturnValues choices."""

from __future__ import annotations

from dynovault.errors import ValidationException


def check_key_paths(key_names: tuple[str, ...], paths: tuple[tuple[str | int, ...], ...]) -> None:
    """DynamoDB refuses document paths that look inside a key attribute (keys are scalars)."""
    for path in paths:
        if len(path) > 1 and path[0] in key_names:
            raise ValidationException(
                "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: "
                f"Key: {path[0]}"
            )


def check_return_values(request: dict, allowed: tuple[str, ...] = ("NONE", "ALL_OLD")) -> str:
    mode = request.get("ReturnValues", "NONE")
    if mode not in allowed:
        raise ValidationException(f"ReturnValues can only be {' or '.join(reversed(allowed))}")
    return mode
