"""The domain record store: versions, conditional writes, queries, sequences, scopes — and two processes' worth of
connections writing one file."""

from __future__ import annotations

import asyncio

import pytest

from shlyuz.storage.records import SqliteRecords, VersionConflict, update


@pytest.fixture
async def store(tmp_path):
    s = SqliteRecords(tmp_path / "r.db")
    await s.open()
    yield s
    await s.close()


async def test_put_get_versions(store):
    r1 = await store.put("application", "A-1", {"status": "registered", "iin": "900101300011"})
    assert (r1.version, r1.data["status"]) == (1, "registered")
    r2 = await store.put("application", "A-1", {"status": "approved"})
    assert r2.version == 2 and r2.created_at == r1.created_at
    got = await store.get("application", "A-1")
    assert got is not None and got.data == {"status": "approved"} and got.version == 2
    assert await store.get("application", "missing") is None


async def test_create_only_and_compare_and_swap(store):
    await store.put("k", "x", {"n": 1}, expect=0)
    with pytest.raises(VersionConflict) as exc:
        await store.put("k", "x", {"n": 2}, expect=0)
    assert exc.value.actual == 1
    await store.put("k", "x", {"n": 2}, expect=1)
    with pytest.raises(VersionConflict) as exc:
        await store.put("k", "x", {"n": 3}, expect=1)
    assert (exc.value.expected, exc.value.actual) == (1, 2)
    with pytest.raises(VersionConflict) as exc:
        await store.put("k", "absent", {"n": 3}, expect=4)
    assert exc.value.actual == 0


async def test_find_by_json_fields(store):
    await store.put("app", "1", {"status": "new", "urgent": True, "iin": "a"})
    await store.put("app", "2", {"status": "done", "urgent": False, "iin": "a"})
    await store.put("app", "3", {"status": "new", "urgent": False, "iin": "b", "note": None})
    await store.put("other", "4", {"status": "new"})
    assert [r.key for r in await store.find("app", where={"status": "new"})] == ["1", "3"]
    assert [r.key for r in await store.find("app", where={"urgent": True})] == ["1"]
    assert [r.key for r in await store.find("app", where={"iin": "a", "status": "done"})] == ["2"]
    assert [r.key for r in await store.find("app", where={"note": None})] == ["1", "2", "3"]
    assert len(await store.find("app", limit=2)) == 2
    with pytest.raises(ValueError, match="not a field name"):
        await store.find("app", where={"x') OR 1=1 --": 1})


async def test_scopes_are_isolated_and_clearable(store):
    await store.put("app", "1", {"v": "default"})
    await store.put("app", "1", {"v": "run-a"}, scope="run-a")
    assert (await store.get("app", "1")).data == {"v": "default"}
    assert (await store.get("app", "1", scope="run-a")).data == {"v": "run-a"}
    assert await store.next_number("apps", scope="run-a") == 1
    assert await store.clear_scope("run-a") == 1
    assert await store.get("app", "1", scope="run-a") is None
    assert await store.next_number("apps", scope="run-a") == 1  # the sequence restarts with the scope
    assert (await store.get("app", "1")).data == {"v": "default"}


async def test_delete(store):
    await store.put("app", "1", {})
    assert await store.delete("app", "1") is True
    assert await store.delete("app", "1") is False


async def test_sequences_and_updates_are_safe_across_connections(tmp_path):
    """Two connections to one file stand for two worker processes: no number is handed out twice, no update lost."""
    a, b = SqliteRecords(tmp_path / "r.db"), SqliteRecords(tmp_path / "r.db")
    await a.open()
    await b.open()
    try:
        numbers = await asyncio.gather(*(s.next_number("application") for _ in range(50) for s in (a, b)))
        assert sorted(numbers) == list(range(1, 101))

        def bump(data):
            data = data or {"n": 0}
            return {"n": data["n"] + 1}

        await asyncio.gather(*(update(s, "counter", "c", bump) for _ in range(10) for s in (a, b)))
        assert (await a.get("counter", "c")).data == {"n": 20}
    finally:
        await a.close()
        await b.close()
