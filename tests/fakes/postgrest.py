"""PostgREST's bulk upsert over a real PostgreSQL: what `push supabase` meets, column types and all.

`POST /rest/v1/character_images?on_conflict=a,b,c` with `Prefer: resolution=merge-duplicates`
becomes the statement PostgREST itself builds: `INSERT INTO t (cols) SELECT cols FROM
json_populate_recordset(NULL::t, body) ON CONFLICT (a,b,c) DO UPDATE SET col = EXCLUDED.col` for
every column the body names. So the table decides, as it does on Supabase: a uuid sent to a
bigint `id` is refused with 22P02, a column the table lacks with PGRST204 (PostgREST checks the
body against its schema cache first), a bad source with 23514. Errors come back in PostgREST's
shape `{"code","details","hint","message"}` with its HTTP statuses.
"""

from __future__ import annotations

import json
import re

import httpx
import psycopg
from psycopg import sql

from tests.fakes.base import FakeService, UnexpectedRequest, json_response

TABLE = "character_images"
# PostgREST's HTTP status per SQLSTATE class or code (the ones these tests meet).
_STATUS = {"22P02": 400, "23505": 409, "23514": 400, "23502": 400, "42P01": 404}


class PostgrestOnPostgres(FakeService):
    name = "PostgREST (on PostgreSQL)"

    def __init__(self, dsn: str, key: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.key = key
        self.route("POST", rf"/rest/v1/{TABLE}", self._upsert)

    def _columns(self, conn: psycopg.Connection) -> set[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [TABLE]
        ).fetchall()
        return {name for (name,) in rows}

    def _upsert(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if request.headers.get("apikey") != self.key:
            return json_response(401, {"message": "Invalid API key"})
        prefer = {p.strip() for p in request.headers.get("prefer", "").split(",")}
        if "resolution=merge-duplicates" not in prefer:
            raise UnexpectedRequest(f"an upsert without merge-duplicates: {prefer}")
        conflict = request.url.params.get("on_conflict", "").split(",")
        body = json.loads(request.content)
        if not isinstance(body, list) or not body:
            raise UnexpectedRequest("upsert body must be a non-empty JSON array")
        names = list(body[0])
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            unknown = [n for n in names if n not in self._columns(conn)]
            if unknown:
                return json_response(
                    400,
                    {
                        "code": "PGRST204",
                        "details": None,
                        "hint": None,
                        "message": f"Could not find the '{unknown[0]}' column of '{TABLE}' "
                        "in the schema cache",
                    },
                )
            columns = sql.SQL(", ").join(map(sql.Identifier, names))
            statement = sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM "
                "json_populate_recordset(NULL::{table}, %s) "
                "ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            ).format(
                table=sql.Identifier(TABLE),
                columns=columns,
                conflict=sql.SQL(", ").join(map(sql.Identifier, conflict)),
                updates=sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names
                ),
            )
            try:
                conn.execute(statement, [json.dumps(body)])
            except psycopg.Error as exc:
                state = exc.sqlstate or "XX000"
                return json_response(
                    _STATUS.get(state, 400),
                    {
                        "code": state,
                        "details": exc.diag.message_detail,
                        "hint": exc.diag.message_hint,
                        "message": exc.diag.message_primary or str(exc),
                    },
                )
        return httpx.Response(201)
