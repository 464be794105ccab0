"""Every job (image, video, batch item) recorded in SQLite beside the outputs (WAL mode)."""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from utils.files import file_sha256

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
# Columns added since the first schema: (name, declaration); older databases get them on open.
ADDED_COLUMNS = (("owner", "TEXT"), ("settings_key", "TEXT"), ("output_sha256", "TEXT"))
MAX_JOB_ID = 2**63 - 1


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
    owner: str | None = None
    settings_key: str | None = None
    output_sha256: str | None = None

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    def row(self) -> list[str]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return [str(self.id), when, self.kind, self.input_name, self.model or "", self.status,
                f"{self.seconds:.1f}", Path(self.output_path).name if self.output_path else "", self.error or ""]


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
            present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for name, declaration in ADDED_COLUMNS:
                if name not in present:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_done ON jobs (input_sha256, settings_key)")
            db.commit()
            db.execute("SELECT count(*) FROM jobs").fetchone()

    def record(self, *, kind: str, input_path: str | Path | None, settings: dict[str, Any], model: str | None,
               device: str | None, started_at: float, status: str, output_path: str | Path | None = None,
               error: str | None = None, batch_id: str | None = None, finished_at: float | None = None,
               owner: str | None = None, settings_key: str | None = None) -> int:
        values = (kind, batch_id, Path(input_path).name if input_path else "(in memory)", file_sha256(input_path),
                  json.dumps(settings, default=str, sort_keys=True), model, device, started_at,
                  finished_at or time.time(), str(output_path) if output_path else None, status, error, owner,
                  settings_key, file_sha256(output_path) if status == "ok" else None)
        try:
            with self._connect() as db:
                cursor = db.execute("INSERT INTO jobs (kind, batch_id, input_name, input_sha256, settings, model, "
                                    "device, started_at, finished_at, output_path, status, error, owner, "
                                    "settings_key, output_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                    values)
                return int(cursor.lastrowid)
        except sqlite3.Error as error:  # history must never fail a job
            log.warning("could not record a job in %s: %s", self.db_path, error)
            return -1

    def for_owner(self, owner: str | None, within: Path | None = None) -> "OwnedHistory":
        """The same history seen by one user: their jobs only, new jobs stamped with their name;
        with `within`, earlier results count for resume only inside that folder (a server's outputs)."""
        return OwnedHistory(self, owner, within)

    def jobs(self, *, kind: str | None = None, status: str | None = None, search: str | None = None,
             limit: int = 200, owner: str | None = None, any_owner: bool = True) -> list[Job]:
        """Newest first. `any_owner=False` keeps `owner`'s jobs only (None: jobs run without a login)."""
        clauses, params = [], []
        if not any_owner:
            clauses.append("owner IS ?")
            params.append(owner)
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

    def get(self, job_id: int, *, owner: str | None = None, any_owner: bool = True) -> Job | None:
        if not 0 < int(job_id) <= MAX_JOB_ID:
            return None
        query, params = owned("SELECT * FROM jobs WHERE id = ?", [int(job_id)], owner, any_owner)
        with self._connect() as db:
            row = db.execute(query, params).fetchone()
        return self._job(row) if row else None

    def find_output(self, input_name: str, input_sha256: str, settings_key: str, *, owner: str | None = None,
                    any_owner: bool = True, within: Path | None = None) -> Path | None:
        """The newest result that these settings made from this input (name and content), still on
        disk unchanged (its SHA256 as recorded) and, with `within`, inside that folder."""
        query = ("SELECT output_path, output_sha256 FROM jobs WHERE input_sha256 = ? AND settings_key = ? "
                 "AND input_name = ? AND status = 'ok' AND output_path IS NOT NULL AND output_sha256 IS NOT NULL")
        query, params = owned(query, [input_sha256, settings_key, input_name], owner, any_owner)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT 20", params).fetchall()
        for path_text, digest in rows:
            path = Path(path_text).resolve()
            if within is not None and not path.is_relative_to(Path(within).resolve()):
                continue
            if path.is_file() and file_sha256(path) == digest:
                return path
        return None

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        data = dict(row)
        try:
            data["settings"] = json.loads(data["settings"])
        except ValueError:
            data["settings"] = {}
        return Job(**data)


class OwnedHistory:
    """One user's view of a `History` (when the server has logins): the same methods, their jobs only."""

    def __init__(self, history: History, owner: str | None, within: Path | None = None):
        self.history, self.owner, self.within = history, owner, within

    def record(self, **fields: Any) -> int:
        return self.history.record(**fields, owner=self.owner)

    def jobs(self, **filters: Any) -> list[Job]:
        return self.history.jobs(**filters, owner=self.owner, any_owner=False)

    def get(self, job_id: int) -> Job | None:
        return self.history.get(job_id, owner=self.owner, any_owner=False)

    def find_output(self, input_name: str, input_sha256: str, settings_key: str) -> Path | None:
        return self.history.find_output(input_name, input_sha256, settings_key, owner=self.owner, any_owner=False,
                                        within=self.within)


HEADERS = ["#", "When", "Kind", "Input", "Model", "Status", "Seconds", "Output", "Error"]


def owned(query: str, params: list, owner: str | None, any_owner: bool) -> tuple[str, list]:
    """`query` limited to `owner`'s rows unless `any_owner`."""
    return (query, params) if any_owner else (query + " AND owner IS ?", [*params, owner])
