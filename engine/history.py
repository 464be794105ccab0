"""Every job (image, video, batch item) recorded in SQLite beside the outputs (WAL mode)."""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                -- image, video or batch-item
    batch_id TEXT,
    input_name TEXT NOT NULL,
    input_sha256 TEXT,
    settings TEXT NOT NULL,            -- JSON
    model TEXT,
    device TEXT,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    output_path TEXT,
    status TEXT NOT NULL,              -- ok or failed
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_started ON jobs (started_at);
"""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    batch_id: str | None
    input_name: str
    input_sha256: str | None
    settings: dict
    model: str | None
    device: str | None
    started_at: float
    finished_at: float
    output_path: str | None
    status: str
    error: str | None

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    def row(self) -> list[str]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return [str(self.id), when, self.kind, self.input_name, self.model or "", self.status,
                f"{self.seconds:.1f}", Path(self.output_path).name if self.output_path else "", self.error or ""]


def file_sha256(path: str | Path | None) -> str | None:
    if not path:
        return None
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


class History:
    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        self._lock = threading.Lock()
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if not self._ready:
                self._prepare()
            with closing(sqlite3.connect(self.db_path, timeout=10)) as db:
                db.row_factory = sqlite3.Row
                with db:
                    yield db

    def _prepare(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._create()
        except sqlite3.DatabaseError as error:
            aside = self.db_path.with_name(f"{self.db_path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning("history database %s is unreadable (%s); moved it to %s and starting a new one",
                        self.db_path, error, aside)
            self.db_path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
            self._create()
        self._ready = True

    def _create(self) -> None:
        with closing(sqlite3.connect(self.db_path, timeout=10)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM jobs").fetchone()

    def record(self, *, kind: str, input_path: str | Path | None, settings: dict[str, Any], model: str | None,
               device: str | None, started_at: float, status: str, output_path: str | Path | None = None,
               error: str | None = None, batch_id: str | None = None, finished_at: float | None = None) -> int:
        values = (kind, batch_id, Path(input_path).name if input_path else "(in memory)", file_sha256(input_path),
                  json.dumps(settings, default=str, sort_keys=True), model, device, started_at,
                  finished_at or time.time(), str(output_path) if output_path else None, status, error)
        try:
            with self._connect() as db:
                cursor = db.execute("INSERT INTO jobs (kind, batch_id, input_name, input_sha256, settings, model, "
                                    "device, started_at, finished_at, output_path, status, error) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
                return int(cursor.lastrowid)
        except sqlite3.Error as error:  # history must never fail a job
            log.warning("could not record a job in %s: %s", self.db_path, error)
            return -1

    def jobs(self, *, kind: str | None = None, status: str | None = None, search: str | None = None,
             limit: int = 200) -> list[Job]:
        clauses, params = [], []
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if status:
            clauses.append("status = ?")
            params.append(status)
        if search:
            clauses.append("(input_name LIKE ? OR model LIKE ? OR error LIKE ?)")
            params += [f"%{search}%"] * 3
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?", (*params, int(limit))).fetchall()
        return [self._job(r) for r in rows]

    def get(self, job_id: int) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        return self._job(row) if row else None

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        data = dict(row)
        try:
            data["settings"] = json.loads(data["settings"])
        except ValueError:
            data["settings"] = {}
        return Job(**data)


HEADERS = ["#", "When", "Kind", "Input", "Model", "Status", "Seconds", "Output", "Error"]
