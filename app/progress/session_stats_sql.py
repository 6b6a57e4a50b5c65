"""The SQL that keeps `session_stats` equal to the grouped attempts, for the migrations that create or change it.

Each migration passes its own frozen map of column → what one attempt row `{r}` adds to it, so the history of
the schema stays as it was written; only the way the triggers are built is shared. On PostgreSQL inserts use a
row trigger (one upsert: logging an attempt is the hot path) and updates and deletes statement triggers with
transition tables (deleting an account removes all its attempts in one statement); SQLite has row triggers only.
"""

# Every statement here is built from the migrations' constants, never from input.
# ruff: noqa: S608

from collections.abc import Mapping
from dataclasses import dataclass

KEY = ("user_id", "local_date", "difficulty", "category")
_KEY_COLUMNS = ", ".join(KEY)
_EVENTS = ("insert", "update", "delete")
_PG_FUNCTIONS = ("session_stats_add_row", "session_stats_update_rows", "session_stats_delete_rows")


def _key_matches(row: str, table: str = "session_stats") -> str:
    return " AND ".join(f"{table}.{c} = {row}.{c}" for c in KEY)


@dataclass(frozen=True)
class SessionStatsSql:
    sums: Mapping[str, str]

    @property
    def columns(self) -> str:
        return ", ".join((*KEY, *self.sums))

    def _sums(self, row: str, *, total: bool = False, named: bool = False, sign: str = "") -> str:
        """The totals of `row` as SQL: summed over a group, named like the columns, or as
        `column = column - (…)` with sign="-"."""
        parts = []
        for column, expression in self.sums.items():
            value = expression.format(r=row)
            if total:
                value = f"SUM({value})"
            if named:
                value = f"{value} AS {column}"
            if sign:
                value = f"{column} = {column} {sign} ({value})"
            parts.append(value)
        return ", ".join(parts)

    def _add(self, excluded: str = "excluded") -> str:
        return ", ".join(f"{c} = session_stats.{c} + {excluded}.{c}" for c in self.sums)

    def grouped(self, source: str) -> str:
        """Grouped totals of the attempt rows in `source`, as a SELECT in the order of `columns`."""
        key = ", ".join(f"r.{c}" for c in KEY)
        return f"SELECT {key}, {self._sums('r', total=True)} FROM {source} AS r GROUP BY {_KEY_COLUMNS}"

    def backfill(self) -> str:
        return f"INSERT INTO session_stats ({self.columns}) {self.grouped('attempts')}"

    def _pg_subtract(self, rows: str) -> str:
        subtract = ", ".join(f"{c} = session_stats.{c} - d.{c}" for c in self.sums)
        grouped = (
            f"SELECT {_KEY_COLUMNS}, {self._sums('o', total=True, named=True)} FROM {rows} AS o GROUP BY {_KEY_COLUMNS}"
        )
        return (
            f"UPDATE session_stats SET {subtract} FROM ({grouped}) AS d WHERE {_key_matches('d')};\n"
            "    DELETE FROM session_stats USING (SELECT DISTINCT "
            f"{_KEY_COLUMNS} FROM {rows}) AS d WHERE {_key_matches('d')} AND session_stats.attempts = 0;"
        )

    def _pg_functions(self) -> tuple[str, str, str]:
        upsert_new_rows = (
            f"INSERT INTO session_stats ({self.columns}) {self.grouped('new_rows')} "
            f"ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET {self._add()}"
        )
        add_row = f"""
CREATE FUNCTION session_stats_add_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_stats ({self.columns})
    VALUES (NEW.user_id, NEW.local_date, NEW.difficulty, NEW.category, {self._sums("NEW")})
    ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET {self._add()};
    RETURN NULL;
END
$$
"""
        update_rows = f"""
CREATE FUNCTION session_stats_update_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {self._pg_subtract("old_rows")}
    {upsert_new_rows};
    RETURN NULL;
END
$$
"""
        delete_rows = f"""
CREATE FUNCTION session_stats_delete_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {self._pg_subtract("old_rows")}
    RETURN NULL;
END
$$
"""
        return add_row, update_rows, delete_rows

    def _sqlite_triggers(self) -> dict[str, str]:
        match_old = " AND ".join(f"{c} = OLD.{c}" for c in KEY)
        subtract = f"UPDATE session_stats SET {self._sums('OLD', sign='-')} WHERE {match_old};"
        add = (
            f"INSERT INTO session_stats ({self.columns}) VALUES (NEW.user_id, NEW.local_date, NEW.difficulty, "
            f"NEW.category, {self._sums('NEW')}) ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET {self._add()};"
        )
        drop_empty = f"DELETE FROM session_stats WHERE {match_old} AND attempts = 0;"
        return {
            "insert": add,
            # An updated row leaves its old cell before it joins its new one, which may be the same.
            "update": f"{subtract} {add} {drop_empty}",
            "delete": f"{subtract} {drop_empty}",
        }

    def create_triggers(self, *, postgres: bool) -> list[str]:
        if not postgres:
            return [
                f"CREATE TRIGGER session_stats_after_{event} AFTER {event.upper()} ON attempts BEGIN {body} END"
                for event, body in self._sqlite_triggers().items()
            ]
        return [
            *self._pg_functions(),
            "CREATE TRIGGER session_stats_after_insert AFTER INSERT ON attempts "
            "FOR EACH ROW EXECUTE FUNCTION session_stats_add_row()",
            "CREATE TRIGGER session_stats_after_update AFTER UPDATE ON attempts "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION session_stats_update_rows()",
            "CREATE TRIGGER session_stats_after_delete AFTER DELETE ON attempts "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_stats_delete_rows()",
        ]


def drop_triggers(*, postgres: bool) -> list[str]:
    table = " ON attempts" if postgres else ""
    statements = [f"DROP TRIGGER session_stats_after_{event}{table}" for event in _EVENTS]
    if postgres:
        statements += [f"DROP FUNCTION {function}()" for function in _PG_FUNCTIONS]
    return statements
