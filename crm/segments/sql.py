"""JSON tests that read the same on SQLite and PostgreSQL: one construct, SQL per dialect.

Tags and attributes are JSON documents (JSONB on PostgreSQL, text on SQLite), and the
two servers share no JSON syntax. Each construct here compiles to its dialect's form, so
a compiled segment stays one Select that runs on either.

Attribute values are compared with their JSON type: a number only with numbers, a
string only with strings, a boolean only with booleans. A value of another type (or
none) yields NULL, which the compiler turns into "no match".
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import bindparam, literal, type_coerce
from sqlalchemy.sql.functions import FunctionElement


class _JsonTest(FunctionElement[Any]):
    """(document, key or None, [element]): key None means the document itself.

    Not cached: each dialect's form binds the key and element values anew, which a
    cached statement would keep from its first use.
    """

    inherit_cache = False

    def _parts(self) -> list[ColumnElement[Any]]:
        return list(self.clauses)


class json_number(_JsonTest):
    """The attribute as a number, or NULL when it is not a JSON number."""

    type = Numeric()
    name = "json_number"
    inherit_cache = False


class json_string(_JsonTest):
    """The attribute as text, or NULL when it is not a JSON string."""

    type = String()
    name = "json_string"
    inherit_cache = False


class json_boolean(_JsonTest):
    """The attribute as a boolean, or NULL when it is not true or false."""

    type = Boolean()
    name = "json_boolean"
    inherit_cache = False


class json_present(_JsonTest):
    """The key is there with a value other than null."""

    type = Boolean()
    name = "json_present"
    inherit_cache = False


class json_array_has(_JsonTest):
    """The document (or its key) is an array holding the element."""

    type = Boolean()
    name = "json_array_has"
    inherit_cache = False


class json_array_filled(_JsonTest):
    """The document is an array with at least one element."""

    type = Boolean()
    name = "json_array_filled"
    inherit_cache = False


def _key(key: ColumnElement[Any]) -> str | None:
    # Keys are bound literals (or NULL for the document itself), checked by the rule
    # to be [A-Za-z0-9_-], so they can be written into a JSON path as they are.
    value = getattr(key, "value", None)
    assert value is None or isinstance(value, str)
    return value


def _pg(element: _JsonTest) -> tuple[Any, Any, list[ColumnElement[Any]]]:
    document, key, *rest = element._parts()
    doc = type_coerce(document, JSONB)
    name = _key(key)
    return doc, doc if name is None else doc[name], rest


def _lite(element: _JsonTest) -> tuple[ColumnElement[Any], ColumnElement[Any], list[Any]]:
    document, key, *rest = element._parts()
    name = _key(key)
    return document, literal("$" if name is None else f'$."{name}"'), rest


@compiles(json_number, "postgresql")
def _pg_number(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    _, value, _ = _pg(element)
    expression = case((func.jsonb_typeof(value) == "number", value.astext.cast(Numeric)))
    return compiler.process(expression, **kw)


@compiles(json_string, "postgresql")
def _pg_string(element: json_string, compiler: SQLCompiler, **kw: Any) -> str:
    _, value, _ = _pg(element)
    return compiler.process(case((func.jsonb_typeof(value) == "string", value.astext)), **kw)


@compiles(json_boolean, "postgresql")
def _pg_boolean(element: json_boolean, compiler: SQLCompiler, **kw: Any) -> str:
    _, value, _ = _pg(element)
    expression = case((func.jsonb_typeof(value) == "boolean", value.astext == "true"))
    return compiler.process(expression, **kw)


@compiles(json_present, "postgresql")
def _pg_present(element: json_present, compiler: SQLCompiler, **kw: Any) -> str:
    _, value, _ = _pg(element)
    return compiler.process(func.coalesce(func.jsonb_typeof(value), "null") != "null", **kw)


@compiles(json_array_has, "postgresql")
def _pg_array_has(element: json_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    # jsonb @> '[x]' holds for an array holding x (and never for a scalar), and a GIN
    # index on the document can answer it.
    _, value, [item] = _pg(element)
    probe = cast(bindparam(None, json.dumps([item.value]), type_=String), JSONB)
    return compiler.process(func.coalesce(value.contains(probe), False), **kw)


@compiles(json_array_filled, "postgresql")
def _pg_array_filled(element: json_array_filled, compiler: SQLCompiler, **kw: Any) -> str:
    _, value, _ = _pg(element)
    filled = and_(func.jsonb_typeof(value) == "array", func.jsonb_array_length(value) > 0)
    return compiler.process(func.coalesce(filled, False), **kw)


@compiles(json_number, "sqlite")
def _lite_number(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    document, path, _ = _lite(element)
    expression = case(
        (func.json_type(document, path).in_(["integer", "real"]), func.json_extract(document, path))
    )
    return compiler.process(expression, **kw)


@compiles(json_string, "sqlite")
def _lite_string(element: json_string, compiler: SQLCompiler, **kw: Any) -> str:
    document, path, _ = _lite(element)
    expression = case((func.json_type(document, path) == "text", func.json_extract(document, path)))
    return compiler.process(expression, **kw)


@compiles(json_boolean, "sqlite")
def _lite_boolean(element: json_boolean, compiler: SQLCompiler, **kw: Any) -> str:
    document, path, _ = _lite(element)
    kind = func.json_type(document, path)
    return compiler.process(case((kind == "true", True), (kind == "false", False)), **kw)


@compiles(json_present, "sqlite")
def _lite_present(element: json_present, compiler: SQLCompiler, **kw: Any) -> str:
    document, path, _ = _lite(element)
    return compiler.process(func.coalesce(func.json_type(document, path), "null") != "null", **kw)


@compiles(json_array_has, "sqlite")
def _lite_array_has(element: json_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    document, path, [item] = _lite(element)
    each = func.json_each(document, path).table_valued("value")
    holds = and_(
        func.json_type(document, path) == "array",
        exists(select(literal(1)).select_from(each).where(each.c.value == item)),
    )
    return compiler.process(func.coalesce(holds, False), **kw)


@compiles(json_array_filled, "sqlite")
def _lite_array_filled(element: json_array_filled, compiler: SQLCompiler, **kw: Any) -> str:
    document, path, _ = _lite(element)
    filled = and_(
        func.json_type(document, path) == "array", func.json_array_length(document, path) > 0
    )
    return compiler.process(func.coalesce(filled, False), **kw)
