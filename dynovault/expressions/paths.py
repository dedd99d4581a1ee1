"""Document paths (``a.b[2].c``) and what DynamoDB does with them: read one out of an
item, merge several into a projected item, write or remove one in place, and refuse
paths that overlap or conflict within one expression."""

from __future__ import annotations

from typing import Any

from dynovault.errors import ValidationException

PathElement = str | int
Path = tuple[PathElement, ...]
Item = dict[str, dict[str, Any]]

INVALID_UPDATE_PATH = "The document path provided in the update expression is invalid for update"


def path_text(path: Path) -> str:
    """How DynamoDB prints a path in messages: ``[a, b, [2]]``."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in path) + "]"


def get_path(item: Item, path: Path) -> dict | None:
    """The value at ``path``, or None when any step is missing or of the wrong type."""
    value = item.get(path[0])
    for element in path[1:]:
        if value is None:
            return None
        if isinstance(element, int):
            elements = value.get("L")
            value = elements[element] if elements is not None and element < len(elements) else None
        else:
            members = value.get("M")
            value = members.get(element) if members is not None else None
    return value


def overlap_problem(paths: list[Path]) -> tuple[str, str] | None:
    """DynamoDB's refusal of two paths where one contains the other (overlap) or where
    one indexes a list at the step where the other names a map key (conflict)."""
    for later_index, later in enumerate(paths):
        for earlier in paths[:later_index]:
            problem = _pair_problem(earlier, later)
            if problem is not None:
                return problem
    return None


def _pair_problem(first: Path, second: Path) -> tuple[str, str] | None:
    for a, b in zip(first, second):
        if isinstance(a, int) != isinstance(b, int):
            return "conflict", _two_paths("conflict", first, second)
        if a != b:
            return None
    return "overlap", _two_paths("overlap", first, second)


def _two_paths(relation: str, first: Path, second: Path) -> str:
    return (
        f"Two document paths {relation} with each other; must remove or rewrite one of these paths; "
        f"path one: {path_text(first)}, path two: {path_text(second)}"
    )


def project(item: Item, paths: tuple[Path, ...], indexes_lists: bool) -> Item:
    """The parts of ``item`` the paths name, merged the way DynamoDB merges them: list
    elements keep their relative order and are packed together."""
    result: dict = {}
    for path in paths:
        value = get_path(item, path)
        if value is not None:
            _insert(result, path, value)
    if indexes_lists:
        for name, value in result.items():
            result[name] = _pack_lists(value)
    return result


def _insert(container: dict, path: Path, value: dict) -> None:
    for depth, element in enumerate(path[:-1]):
        tag = "L" if isinstance(path[depth + 1], int) else "M"
        child = container.get(element)
        if child is None:
            child = container[element] = {tag: {}}
        container = child[tag]
    container[path[-1]] = value


def _pack_lists(value: dict) -> dict:
    """Turn the index-keyed dicts ``_insert`` built for lists into real lists."""
    if "L" in value and isinstance(value["L"], dict):
        return {"L": [_pack_lists(value["L"][i]) for i in sorted(value["L"])]}
    if "M" in value:
        return {"M": {k: _pack_lists(v) for k, v in value["M"].items()}}
    return value


def _parent(item: Item, path: Path) -> tuple[dict | list | None, PathElement]:
    """The map members or list that directly holds the last step of ``path``."""
    if len(path) == 1:
        return item, path[0]
    holder = get_path(item, path[:-1])
    last = path[-1]
    if holder is None:
        return None, last
    container = holder.get("L") if isinstance(last, int) else holder.get("M")
    return container, last


def set_path(item: Item, path: Path, value: dict) -> None:
    """SET semantics: a list index past the end appends; a missing parent is an error."""
    container, last = _parent(item, path)
    if container is None:
        raise ValidationException(INVALID_UPDATE_PATH)
    if isinstance(last, int):
        if last < len(container):
            container[last] = value
        else:
            container.append(value)
    else:
        container[last] = value


def require_parent(item: Item, path: Path) -> None:
    """Refuse an update of a path whose parent map or list is missing (or of another type)."""
    if _parent(item, path)[0] is None:
        raise ValidationException(INVALID_UPDATE_PATH)


def remove_path(item: Item, path: Path) -> None:
    """REMOVE semantics: removing what is not there changes nothing, but the parent of
    the path must be there."""
    container, last = _parent(item, path)
    if container is None:
        raise ValidationException(INVALID_UPDATE_PATH)
    if isinstance(last, int):
        if last < len(container):
            del container[last]
    else:
        container.pop(last, None)
