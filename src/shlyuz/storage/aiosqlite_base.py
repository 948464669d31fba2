"""What the aiosqlite-backed stores (records, async messages) share: opening the file in WAL mode with their schema,
closing it, and refusing use before ``open``. Each store runs every statement start to finish in one hop
(``execute_fetchall``): a cursor left open between awaits would hold a read snapshot that makes another coroutine's
write on the same connection fail at once with "database is locked"."""

from __future__ import annotations

from pathlib import Path

import aiosqlite


class AiosqliteStore:
    schema = ""  # the store's CREATE TABLE IF NOT EXISTS … script
    what = "store"  # named in the error when used before open()

    def __init__(self, path: Path | str) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.executescript(self.schema)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError(f"{self.what} is not open")
        return self._db
