"""`record`, `upsert` and `delete`: generic row effects on built-in tables or tables of the rules' own.

Built-in tables are checked at compile time (known table, known columns; the bookkeeping tables are off
limits). A table of the rules' own is created by sqlite-utils, with the columns it is first given, on the first
write that needs it (and columns are added as new ones appear), inside the same transaction.
"""

from __future__ import annotations

from policy.errors import Diagnostic
from policy.lean import json_dumps, sqlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.errors import Location
    from policy.model import PlannedEffect


_TABLE = {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$", "description": "A table name."}
_VALUES = {"type": "object", "propertyNames": {"pattern": "^[a-z_][a-z0-9_]*$"},
           "description": "Column -> value; strings are templates."}
KINDS: dict[str, dict[str, Any]] = {
    "record": {"description": "Insert a row into a table (a table of the rules' own is created on first use).",
               "type": "object", "required": ["table", "values"], "additionalProperties": False,
               "properties": {"table": _TABLE, "values": _VALUES}},
    "upsert": {"description": "Insert a row, or update the row with the same key (a built-in table's key is its "
                              "primary key).",
               "type": "object", "required": ["table", "key", "values"], "additionalProperties": False,
               "properties": {"table": _TABLE, "values": _VALUES, "key": {
                   "description": "The key column(s).",
                   "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}}},
    "delete": {"description": "Delete the rows whose columns equal the given values.",
               "type": "object", "required": ["table", "where"], "additionalProperties": False,
               "properties": {"table": _TABLE, "where": _VALUES}},
}


def _builtin_columns(table: str) -> tuple[str, ...] | None:
    from policy.migrations import table_columns

    return table_columns().get(table)


def _check_table(table: str, columns: list[str], location: Location) -> list[Diagnostic]:
    from policy.migrations import BOOKKEEPING_TABLES

    if table in BOOKKEEPING_TABLES:
        return [Diagnostic(location, "protected-table", f"rules cannot write to the {table!r} table",
                           "record into a table of your own instead")]
    if table.startswith("sqlite_"):
        return [Diagnostic(location, "protected-table", f"{table!r} is reserved by SQLite", "choose another name")]
    known = _builtin_columns(table)
    if known is None:
        return []
    from policy.schema import suggest

    return [Diagnostic(location, "unknown-column", f"table {table!r} has no column {column!r}",
                       suggest(column, set(known)))
            for column in columns if column not in known]


def check_record(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    return _check_table(args["table"], list(args["values"]), location)


def check_upsert(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    keys = [args["key"]] if isinstance(args["key"], str) else list(args["key"])
    problems = _check_table(args["table"], list(args["values"]), location)
    missing = [key for key in keys if key not in args["values"]]
    if missing:
        problems.append(Diagnostic(location, "bad-effect", f"upsert key column(s) {missing} need a value in values:",
                                   "add them to values"))
    known = _builtin_columns(args["table"])
    if known is not None and not problems:
        from policy.migrations import empty_schema

        connection = empty_schema()
        try:
            pk = [row[1] for row in sorted(connection.execute(f'PRAGMA table_info("{args["table"]}")'),
                                           key=lambda row: row[5]) if row[5]]
        finally:
            connection.close()
        if sorted(pk) != sorted(keys):
            problems.append(Diagnostic(location, "bad-effect",
                                       f"upsert into {args['table']!r} must use its primary key {pk} as key",
                                       f"key: {pk}"))
    return problems


def check_delete(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    return _check_table(args["table"], list(args["where"]), location)


def _plain(value: Any) -> Any:
    return json_dumps(value) if isinstance(value, (list, dict, tuple)) else value


def _insert(context: EffectContext, table: str, values: dict[str, Any], keys: list[str] | None) -> None:
    columns = list(values)
    quoted = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'
    if keys:
        updates = ", ".join(f'"{column}" = excluded."{column}"' for column in columns if column not in keys)
        conflict = ", ".join(f'"{key}"' for key in keys)
        sql += f" ON CONFLICT({conflict}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    row = [_plain(values[column]) for column in columns]
    try:
        context.store.connection.execute(sql, row)
    except sqlite.OperationalError as error:
        text = str(error)
        if "no such table" not in text and "has no column" not in text and "ON CONFLICT" not in text:
            raise
        if _builtin_columns(table) is not None:
            raise
        _create_and_insert(context, table, {column: _plain(values[column]) for column in columns}, keys)


def _create_and_insert(context: EffectContext, table: str, values: dict[str, Any], keys: list[str] | None) -> None:
    from sqlite_utils import Database

    db = Database(context.store.connection, execute_plugins=False)
    if keys:
        db.table(table).upsert(values, pk=keys[0] if len(keys) == 1 else tuple(keys), alter=True)
    else:
        db.table(table).insert(values, alter=True)


def apply_record(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    _insert(context, args["table"], dict(args["values"]), None)
    return f"recorded a row in {args['table']}"


def apply_upsert(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    keys = [args["key"]] if isinstance(args["key"], str) else list(args["key"])
    _insert(context, args["table"], dict(args["values"]), keys)
    return f"upserted a row in {args['table']}"


def apply_delete(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    where = dict(args["where"])
    clause = " AND ".join(f'"{column}" = ?' for column in where)
    try:
        cursor = context.store.connection.execute(f'DELETE FROM "{args["table"]}" WHERE {clause}',
                                                  [_plain(value) for value in where.values()])
    except sqlite.OperationalError as error:
        if "no such table" in str(error) and _builtin_columns(args["table"]) is None:
            return f"deleted 0 rows from {args['table']}"
        raise
    return f"deleted {cursor.rowcount} rows from {args['table']}"
