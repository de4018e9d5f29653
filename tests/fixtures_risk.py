"""Fixtures of the risk engine's tests: the corpus loader and a database with real table sizes."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncdb_tui.config import RiskThresholds

CORPUS_DIR = Path(__file__).resolve().parent / "risk_corpus"

LIVE_THRESHOLDS = RiskThresholds(medium_table_rows=10_000, large_table_rows=200_000, large_table_bytes=10**12)
"""Low thresholds so that a 300,000-row table counts as large and the test stays fast."""

LIVE_SETUP = """
CREATE TABLE big (id bigserial PRIMARY KEY, code varchar(20), email text, n int, note text);
INSERT INTO big (code, email, n, note)
    SELECT left(md5(g::text), 12), 'user' || g || '@example.com', g, NULL FROM generate_series(1, 300000) AS g;
CREATE INDEX big_email_idx ON big (email);
ALTER TABLE big ADD CONSTRAINT big_n_check CHECK (n > 0) NOT VALID;
CREATE TABLE medium (id bigserial PRIMARY KEY, n int, note text);
INSERT INTO medium (n) SELECT g FROM generate_series(1, 20000) AS g;
CREATE TABLE small (id bigserial PRIMARY KEY, n int, note text);
INSERT INTO small (n) SELECT g FROM generate_series(1, 500) AS g;
CREATE TABLE empty_t (id bigserial PRIMARY KEY);
CREATE MATERIALIZED VIEW big_stats AS SELECT id, n FROM big;
ANALYZE;
"""


@dataclass(frozen=True)
class Case:
    """One corpus case: SQL and what the engine must find in it."""

    name: str
    sql: str
    expect: list[str]
    source: str
    risk: str | None = None
    suppressed: list[str] = field(default_factory=list)
    server_version: int | None = None
    live: bool = False
    lines: dict[str, int] = field(default_factory=dict)
    message_contains: dict[str, str] = field(default_factory=dict)
    table_of: dict[str, str] = field(default_factory=dict)
    needs_live: str = ""
    """The SQL is what rendered before a data migration failed offline; this is why it failed."""

    def expected_pairs(self) -> list[tuple[str, str]]:
        return sorted(tuple(item.split(":", 1)) for item in self.expect)  # type: ignore[misc]


def load_corpus() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(CORPUS_DIR.glob("*.toml")):
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        for raw in data.get("case", []):
            cases.append(Case(source=path.name, **raw))
    return cases


@pytest.fixture(scope="session")
def risk_live_db(fresh_db: Callable[..., str]) -> str:
    """URL of a database with big (300k rows), medium (20k), small (500) and empty tables, analysed."""
    url = fresh_db()

    async def build() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute(LIVE_SETUP)
        finally:
            await conn.close()

    asyncio.run(build())
    return url
