"""An on-disk cache of judge generations (SQLite), so a rerun costs nothing.

Keyed by a hash of everything that determines the output: the model's identity, the exact
messages, the verdict schema and the sampling settings. What is stored is the raw generation
(text and the logprobs the weighting needs), not the parsed verdict, so changing how verdicts are
aggregated never invalidates the cache. Only generations that parsed as valid verdicts are stored:
a failure is retried on the next run instead of being remembered.

Several processes (score workers, a trainer and a CLI run) may share one file: SQLite in WAL mode
lets readers and a writer proceed together, and a busy timeout serialises concurrent writers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CACHE_VERSION = 1


def default_cache_path() -> Path:
    """JUDGECRAFT_JUDGE_CACHE, else judge.sqlite under judgecraft's cache folder."""
    env = os.environ.get("JUDGECRAFT_JUDGE_CACHE")
    if env:
        return Path(env)
    from judgecraft.models import cache_dir

    return cache_dir() / "judge.sqlite"


def cache_key(model: str, messages: list[dict[str, Any]], schema: dict[str, Any], sampling: dict[str, Any]) -> str:
    blob = json.dumps(
        {"v": CACHE_VERSION, "model": model, "messages": messages, "schema": schema, "sampling": sampling},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class GenerationCache:
    """key -> generation dict, in one SQLite file. Thread-safe; safe across processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 60000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS generations ("
            " key TEXT PRIMARY KEY, model TEXT NOT NULL, created REAL NOT NULL, value TEXT NOT NULL)"
        )
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(f"SELECT key, value FROM generations WHERE key IN ({marks})", chunk)
                for key, value in rows:
                    found[key] = json.loads(value)
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, model: str, value: dict[str, Any]) -> None:
        self.put_many([(key, model, value)])

    def put_many(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        now = time.time()
        data = [(k, m, now, json.dumps(v, ensure_ascii=False)) for k, m, v in rows]
        if not data:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?)", data)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __getstate__(self) -> dict[str, Any]:  # a cache travels to worker processes as its path
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])
