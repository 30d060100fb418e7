"""The private crosswalk: original values and what replaced them, for the data owner.

A SQLite database ``<headers>/crosswalk.sqlite`` (owner-only) with one table each for
patients (original ID and name, pseudonym, date offset), studies (StudyInstanceUID and
accession number, original and new), UIDs and other identifiers. Every run appends to it;
rows are keyed on the original value, so a rerun adds nothing new and two runs writing at
once are serialised by SQLite's own locking (WAL journal, generous busy timeout).
Only the main process writes; workers hand their rows over with each file's outcome.

``dicomscrub crosswalk export --headers HDRS`` writes the tables as CSV files.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sqlite3
from pathlib import Path
from types import TracebackType

from dicomscrub.errors import ConfigError
from dicomscrub.io.write import make_private_dirs
from dicomscrub.models import CrosswalkRows

DB_NAME = "crosswalk.sqlite"
_BUSY_TIMEOUT_S = 120.0
_COMMIT_EVERY = 200

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS patients (
        identity TEXT PRIMARY KEY, original_patient_id TEXT, original_patient_name TEXT,
        pseudonym TEXT NOT NULL, date_offset_days INTEGER NOT NULL, first_run TEXT)""",
    """CREATE TABLE IF NOT EXISTS studies (
        original_study_uid TEXT PRIMARY KEY, new_study_uid TEXT, original_accession TEXT,
        new_accession TEXT, pseudonym TEXT, first_run TEXT)""",
    """CREATE TABLE IF NOT EXISTS uids (
        original_uid TEXT PRIMARY KEY, new_uid TEXT NOT NULL, first_run TEXT)""",
    """CREATE TABLE IF NOT EXISTS identifiers (
        keyword TEXT NOT NULL, original_value TEXT NOT NULL, token TEXT NOT NULL,
        first_run TEXT, PRIMARY KEY (keyword, original_value))""",
)
TABLES = ("patients", "studies", "uids", "identifiers")


def db_path(headers: Path) -> Path:
    return headers / DB_NAME


class Crosswalk:
    """An open crosswalk database; use as a context manager."""

    def __init__(self, headers: Path) -> None:
        make_private_dirs(headers, headers)
        path = db_path(headers)
        if not path.exists():  # create it owner-only before SQLite opens it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        self._conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.chmod(0o600)
        self._run = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._pending = 0
        self._conn.execute("BEGIN IMMEDIATE")

    def add(self, rows: CrosswalkRows) -> None:
        """Record one file's pairs (existing originals are left as they are)."""
        c = self._conn
        c.execute(
            "INSERT OR IGNORE INTO patients VALUES (?, ?, ?, ?, ?, ?)",
            (rows.patient_identity, rows.patient_id, rows.patient_name, rows.pseudonym,
             rows.date_offset_days, self._run),
        )  # fmt: skip
        c.executemany(
            "INSERT OR IGNORE INTO studies VALUES (?, ?, ?, ?, ?, ?)",
            [(*study, rows.pseudonym, self._run) for study in rows.studies],
        )
        c.executemany(
            "INSERT OR IGNORE INTO uids VALUES (?, ?, ?)",
            [(*pair, self._run) for pair in rows.uids],
        )
        c.executemany(
            "INSERT OR IGNORE INTO identifiers VALUES (?, ?, ?, ?)",
            [(*triple, self._run) for triple in rows.identifiers],
        )
        self._pending += 1
        if self._pending >= _COMMIT_EVERY:
            c.execute("COMMIT")
            c.execute("BEGIN IMMEDIATE")
            self._pending = 0

    def close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")
        self._conn.close()

    def __enter__(self) -> Crosswalk:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def export_csv(headers: Path, out_dir: Path) -> dict[str, int]:
    """Write each table to ``out_dir/<table>.csv`` (owner-only); return row counts."""
    path = db_path(headers)
    if not path.is_file():
        raise ConfigError(f"no crosswalk at {path}: run dicomscrub with --headers {headers}")
    make_private_dirs(out_dir, out_dir)
    counts: dict[str, int] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S)
    try:
        for table in TABLES:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY 1")  # fixed table names
            names = [d[0] for d in cursor.description]
            target = out_dir / f"{table}.csv"
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(names)
                n = 0
                for row in cursor:
                    writer.writerow(row)
                    n += 1
            counts[table] = n
    finally:
        conn.close()
    return counts


def export_command(args: argparse.Namespace) -> int:
    """Entry point of ``dicomscrub crosswalk export``."""
    out_dir: Path = args.out or args.headers / "crosswalk-export"
    counts = export_csv(args.headers, out_dir)
    listed = ", ".join(f"{table} {n}" for table, n in counts.items())
    print(f"wrote crosswalk CSV files to {out_dir} ({listed} rows); they hold PHI: keep private")
    return 0
