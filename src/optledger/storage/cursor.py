"""`CursorExecutor`: the hot statements run on the DBAPI cursor, without SQLAlchemy's
execution layer.

Why: on SQLite with group commit, one writer thread runs every write, so its Python time
per statement bounds the write rate. Profiled at ~1,300 durable unsubscribes/s with 64
callers, the writer held the GIL 78% of the time, and 62% of that was SQLAlchemy's
execution layer (`Connection.execute` → `_execute_context`, `_init_compiled`, result
set-up) against ~6% in sqlite3's own `cursor.execute`. One INSERT … RETURNING costs about
35 µs through `Connection.execute`, 28 µs through `exec_driver_sql` and 6.4 µs on the raw
cursor; inside the repositories a statement cost ~68 µs, and an unsubscribe runs about
seven of them plus a SAVEPOINT and its RELEASE.

How:
- A statement is one of the repositories' cached Core statements. For each dialect it is
  compiled once, with the parameter names it is run with as `column_keys` (so an INSERT
  names exactly those columns), into a `Plan`: the SQL text, the parameter order (the
  compiled `positiontup` for SQLite's positional qmark style; names for psycopg's
  pyformat), and the value conversions. Plans are cached per dialect object and per
  (statement, parameter names); the statements themselves are cached by the repositories,
  so a plan is looked up with one dict access.
- Value conversions are the ones `Connection.execute` applies: each parameter goes
  through its type's bind processor for the dialect and each result column through its
  result processor, taken from SQLAlchemy's type objects once per plan. On SQLite a
  `DateTime` is therefore written as "%Y-%m-%d %H:%M:%S.%f" (always with microseconds)
  and read back into a naive datetime, and an `Interval` as a datetime after the epoch;
  on PostgreSQL psycopg takes and returns datetime and timedelta objects and no processor
  runs. One exception, for speed: SQLite's `DateTime` processor is replaced by
  `datetime.isoformat`, which writes the same text, once a probe shows that it does.
- It runs on one DBAPI cursor of the connection that the unit of work already holds, so
  inside the same transaction, and fetches every row before returning: rows come back as
  tuples in the selected column order (named tuples, so `row.id` reads as on a `Row`).
- A database error is handed to SQLAlchemy's own error handling for that connection
  (without the SQL or the parameters), so callers see the same `sqlalchemy.exc` classes
  (`IntegrityError`…), and a lost connection invalidates the connection and the pool just
  as through `Connection.execute`. That hook, `Connection._handle_dbapi_exception`, is
  private; the tests of integrity errors and of savepoints that fail to release cover it.
- Statements that need SQLAlchemy while they run are refused when compiled: expanding IN
  lists, literal-execute parameters, parameters computed by callables, and columns with
  Python-side defaults. Those statements stay on `Connection.execute`.
"""

import threading
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NoReturn, Protocol, cast

from sqlalchemy import Connection, Executable
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import ReturnsRows
from sqlalchemy.types import TypeEngine

__all__ = ["CursorExecutor", "Plan", "Record", "UnsupportedStatement"]


class Record(Protocol):
    """A row: a tuple in the selected column order whose columns are also attributes."""

    def __getattr__(self, name: str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class UnsupportedStatement(ValueError):
    """The statement needs SQLAlchemy's execution layer and cannot run on the cursor."""


_Processor = Callable[[Any], Any]
_REQUIRED: Final = object()
"""The default of a parameter that the caller must pass."""


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """One statement compiled for one dialect, with its conversions."""

    sql: str
    names: tuple[str, ...]
    """The parameter names in the SQL: the qmark order, or the pyformat keys."""
    positional: bool
    keys: tuple[str, ...]
    """The caller's key of each parameter, in `names` order."""
    defaults: tuple[object, ...] | None
    """The value of each parameter when the caller passes none (`_REQUIRED`: must pass);
    None when every parameter is required, as in all the repositories' statements."""
    processors: tuple[tuple[int, _Processor], ...]
    """The parameters that have a bind processor, by position."""
    record: Callable[[Sequence[Any]], Record] | None
    """Makes a row from the cursor's; None if the statement returns no rows."""
    results: tuple[tuple[int, _Processor], ...]
    """The result columns that have a result processor, by position."""

    def values(self, given: Mapping[str, object]) -> Sequence[object] | dict[str, object]:
        """The DBAPI parameters for `given`."""
        if self.defaults is None:
            values = [given[key] for key in self.keys]
        else:
            values = [
                given[key] if default is _REQUIRED else given.get(key, default)
                for key, default in zip(self.keys, self.defaults, strict=True)
            ]
        for index, process in self.processors:
            values[index] = process(values[index])
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def row(self, raw: Sequence[Any]) -> Record:
        assert self.record is not None
        if not self.results:
            return self.record(raw)
        converted = list(raw)
        for index, process in self.results:
            converted[index] = process(converted[index])
        return self.record(converted)


_PlanKey = tuple[Executable, tuple[str, ...]]
_plans: weakref.WeakKeyDictionary[Dialect, dict[_PlanKey, Plan]] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()


def plans_of(dialect: Dialect) -> dict[_PlanKey, Plan]:
    """The cache of `dialect`'s plans (created on first use; lives as long as the dialect)."""
    with _plans_lock:
        plans = _plans.get(dialect)
        if plans is None:
            plans = _plans[dialect] = {}
        return plans


def compile_plan(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> Plan:
    """Compile `statement` for `dialect`, to be run with parameters named `keys`."""
    if not isinstance(statement, ClauseElement):
        raise UnsupportedStatement("only Core statements can be compiled for the cursor")
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if not isinstance(compiled, SQLCompiler):
        raise UnsupportedStatement("the statement did not compile to SQL")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise UnsupportedStatement("expanding or literal-execute parameters need SQLAlchemy")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise UnsupportedStatement("Python-side column defaults need SQLAlchemy")
    positional = bool(dialect.positional)
    # qmark: one name per "?" in order (a name may repeat); pyformat: each name once.
    order = (
        compiled.positiontup or [] if positional else dict.fromkeys(compiled.bind_names.values())
    )
    by_name = {compiled.bind_names[bind]: bind for bind in compiled.bind_names}
    escaped = compiled.escaped_bind_names
    names: list[str] = []
    caller_keys: list[str] = []
    defaults: list[object] = []
    processors: list[tuple[int, _Processor]] = []
    for name in order:
        bind = by_name[name]
        if bind.callable is not None:
            raise UnsupportedStatement("parameters computed by callables need SQLAlchemy")
        process = _bind_processor(dialect, bind.type)
        default = _REQUIRED if bind.required else bind.value
        names.append(name if positional else escaped.get(name, name))
        caller_keys.append(bind.key)
        defaults.append(default)
        if process is not None:
            processors.append((len(caller_keys) - 1, process))
    record: Callable[[Sequence[Any]], Record] | None = None
    results: list[tuple[int, _Processor]] = []
    columns: list[ColumnElement[Any]] = (
        list(statement.exported_columns) if isinstance(statement, ReturnsRows) else []
    )
    if columns:
        fields = [column.key for column in columns]
        if None in fields or len(set(fields)) != len(fields):
            raise UnsupportedStatement("every result column needs a distinct name")
        record = _record_type([str(field) for field in fields])
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
    return Plan(
        sql=compiled.string,
        names=tuple(names),
        positional=positional,
        keys=tuple(caller_keys),
        defaults=None if all(default is _REQUIRED for default in defaults) else tuple(defaults),
        processors=tuple(processors),
        record=record,
        results=tuple(results),
    )


_DATETIME_PROBES: Final = (
    datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC).replace(tzinfo=None),
    datetime(2025, 3, 4, 5, 6, 7, 120, tzinfo=UTC).replace(tzinfo=None),
    datetime(1, 1, 1, tzinfo=UTC).replace(tzinfo=None),
)
"""Naive datetimes: with microsecond 0, with microseconds, and the smallest."""


def _bind_processor(dialect: Dialect, type_: TypeEngine[Any]) -> _Processor | None:
    """SQLAlchemy's bind processor for `type_` on `dialect`, or an equivalent faster one.

    SQLite's `DateTime` processor formats through a dict of the datetime's fields, which
    was a tenth of the writer's time; `datetime.isoformat(" ", "microseconds")` writes the
    same text for naive datetimes, three times faster. It is used only where it gives
    exactly what SQLAlchemy's processor gives for the probes (so not for a `DateTime` with
    its own storage format), and any other value still goes to SQLAlchemy's.
    """
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None or dialect.name != "sqlite" or not isinstance(impl, sqltypes.DateTime):
        return process
    fallback = process

    def naive_datetime_text(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return fallback(value)

    if all(naive_datetime_text(probe) == fallback(probe) for probe in _DATETIME_PROBES):
        return naive_datetime_text
    return process


def _record_type(fields: list[str]) -> Callable[[Sequence[Any]], Record]:
    """A named tuple type with `fields`, as its constructor from a row."""
    make: Callable[..., Any] = namedtuple
    return cast(Callable[[Sequence[Any]], Record], make("Record", fields)._make)


class CursorExecutor:
    """Runs cached statements on one DBAPI cursor of `connection`, in its transaction.

    One per unit of work: it belongs to the thread that holds `connection`.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dialect = connection.dialect
        self._plans = plans_of(connection.dialect)
        self._cursor: DBAPICursor | None = None
        self.dialect_name: Final[str] = connection.dialect.name

    def plan(self, statement: Executable, keys: tuple[str, ...] = ()) -> Plan:
        """The cached plan of `statement` run with parameters named `keys`."""
        plan = self._plans.get((statement, keys))
        if plan is None:
            plan = self._plans[(statement, keys)] = compile_plan(self._dialect, statement, keys)
        return plan

    def run(self, statement: Executable, parameters: Mapping[str, object] = {}) -> None:
        """Run a statement whose rows, if any, are not wanted."""
        plan = self.plan(statement, tuple(parameters))
        self._execute(plan.sql, plan.values(parameters))

    def all(self, statement: Executable, parameters: Mapping[str, object] = {}) -> list[Record]:
        """Every row the statement returns."""
        plan = self.plan(statement, tuple(parameters))
        if plan.record is None:
            raise UnsupportedStatement("the statement returns no rows")
        rows = self._execute(plan.sql, plan.values(parameters), fetch=True)
        return [plan.row(row) for row in rows]

    def column(self, statement: Executable, parameters: Mapping[str, object] = {}) -> list[Any]:
        """The first column of every row, converted as `all` converts it, without making
        rows: for statements that return hundreds of thousands (a list check's)."""
        plan = self.plan(statement, tuple(parameters))
        if plan.record is None:
            raise UnsupportedStatement("the statement returns no rows")
        rows = self._execute(plan.sql, plan.values(parameters), fetch=True)
        process = next((process for index, process in plan.results if index == 0), None)
        if process is None:
            return [row[0] for row in rows]
        return [process(row[0]) for row in rows]

    def raw_rows(
        self, statement: Executable, parameters: Mapping[str, object] = {}
    ) -> Sequence[Sequence[Any]]:
        """Every row as the driver returns it, without making records: for statements of
        columns that need no conversion and return hundreds of thousands of rows."""
        plan = self.plan(statement, tuple(parameters))
        if plan.record is None or plan.results:
            raise UnsupportedStatement("the statement returns no rows, or converted ones")
        return self._execute(plan.sql, plan.values(parameters), fetch=True)

    def first(self, statement: Executable, parameters: Mapping[str, object] = {}) -> Record | None:
        """The first row the statement returns, or None."""
        plan = self.plan(statement, tuple(parameters))
        if plan.record is None:
            raise UnsupportedStatement("the statement returns no rows")
        rows = self._execute(plan.sql, plan.values(parameters), fetch=True)
        return plan.row(rows[0]) if rows else None

    def first_of_each(
        self, statement: Executable, parameter_sets: Sequence[Mapping[str, object]]
    ) -> list[Record | None]:
        """The first row the statement returns for each of `parameter_sets` (each with
        the same names), or None. On psycopg, two or more are sent in one pipeline and
        their answers read after: one round trip to the server instead of one each."""
        if not parameter_sets:
            return []
        plan = self.plan(statement, tuple(parameter_sets[0]))
        if plan.record is None:
            raise UnsupportedStatement("the statement returns no rows")
        if len(parameter_sets) == 1 or self.dialect_name != "postgresql":
            found = [self._execute(plan.sql, plan.values(p), fetch=True) for p in parameter_sets]
            return [plan.row(rows[0]) if rows else None for rows in found]
        cursor: Any = self._the_cursor()
        try:
            cursor.executemany(plan.sql, [plan.values(p) for p in parameter_sets], returning=True)
            firsts = [cursor.fetchone()]
            while cursor.nextset():
                firsts.append(cursor.fetchone())
        except self._dialect.loaded_dbapi.Error as error:
            self._failed(error, cursor)
        return [None if row is None else plan.row(row) for row in firsts]

    def rows_of_driver_sql(self, sql: str, values: Mapping[str, object]) -> Sequence[Sequence[Any]]:
        """Every row of a statement given as SQL in the driver's parameter style, with
        DBAPI values, as the driver returns them (the multi-row statements of a batch of
        works on psycopg, whose arrays need no conversion)."""
        return self._execute(sql, dict(values), fetch=True)

    def run_driver_sql(self, sql: str) -> None:
        """Run a parameterless statement given as SQL (savepoints)."""
        self._execute(sql, None)

    def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement, given as SQL in the driver's parameter style, once for each
        row of DBAPI values (`executemany`: the bulk paths)."""
        cursor = self._the_cursor()
        try:
            cursor.executemany(sql, rows)
        except self._dialect.loaded_dbapi.Error as error:
            self._failed(error, cursor)

    def copy_rows(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Stream `rows` into a `COPY … FROM STDIN` (psycopg only: the bulk paths)."""
        cursor: Any = self._the_cursor()
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except self._dialect.loaded_dbapi.Error as error:
            self._failed(error, cursor)

    def _the_cursor(self) -> DBAPICursor:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self._connection.connection.cursor()
        return cursor

    def _failed(self, error: Exception, cursor: DBAPICursor) -> NoReturn:
        # SQLAlchemy closes the cursor unless the connection is lost (then it goes).
        self._cursor = None
        # Neither the SQL nor the parameters go into the error.
        self._connection._handle_dbapi_exception(error, None, None, cursor, None)
        raise error  # pragma: no cover - the handler always raises

    def _execute(
        self, sql: str, values: Sequence[object] | dict[str, object] | None, *, fetch: bool = False
    ) -> Sequence[Sequence[Any]]:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self._connection.connection.cursor()
        try:
            if values is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, values)
            # Rows nobody wants (psycopg's implicit RETURNING of an INSERT) are read too,
            # so that no statement is left running inside the transaction.
            if fetch or cursor.description is not None:
                return cursor.fetchall()
            return ()
        except self._dialect.loaded_dbapi.Error as error:
            # SQLAlchemy closes the cursor unless the connection is lost (then it goes).
            self._cursor = None
            # Neither the SQL nor the parameters go into the error.
            self._connection._handle_dbapi_exception(error, None, None, cursor, None)
