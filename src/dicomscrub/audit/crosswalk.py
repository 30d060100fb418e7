"""The private crosswalk: original values and what replaced them, for the data owner.

A SQLite database ``<headers>/crosswalk.sqlite`` (owner-only) with one table each for
patients (original ID and name, pseudonym, date offset), studies (StudyInstanceUID and
accession number, original and new), UIDs and other identifiers. Every run appends to it;
rows are keyed on the original value, so a rerun adds nothing twice (and updates what a
new key or date range changed); two runs writing at once are serialised by SQLite's own
locking in short transactions.
Only the main process writes; workers hand their rows over with each file's outcome.

``dicomscrub crosswalk export --headers HDRS`` writes the tables as CSV files.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sqlite3
import time
from pathlib import Path
from types import TracebackType

from dicomscrub.errors import ConfigError, OutputError
from dicomscrub.io.write import make_private_dirs
from dicomscrub.models import CrosswalkRows

DB_NAME = "crosswalk.sqlite"
_BUSY_TIMEOUT_S = 120.0
_COMMIT_EVERY = 200

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS patients (
        identity TEXT PRIMARY KEY, original_patient_id TEXT, original_patient_name TEXT,
        pseudonym TEXT NOT NULL, date_offset_days INTEGER NOT NULL, first_run TEXT,
        last_run TEXT)""",
    """CREATE TABLE IF NOT EXISTS studies (
        original_study_uid TEXT PRIMARY KEY, new_study_uid TEXT, original_accession TEXT,
        new_accession TEXT, pseudonym TEXT, first_run TEXT, last_run TEXT)""",
    """CREATE TABLE IF NOT EXISTS uids (
        original_uid TEXT PRIMARY KEY, new_uid TEXT NOT NULL, first_run TEXT, last_run TEXT)""",
    """CREATE TABLE IF NOT EXISTS identifiers (
        keyword TEXT NOT NULL, original_value TEXT NOT NULL, token TEXT NOT NULL,
        first_run TEXT, last_run TEXT, PRIMARY KEY (keyword, original_value))""",
)
TABLES = ("patients", "studies", "uids", "identifiers")


def db_path(headers: Path) -> Path:
    return headers / DB_NAME


_UPSERTS = (
    """INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (identity) DO UPDATE SET
        original_patient_id = excluded.original_patient_id,
        original_patient_name = excluded.original_patient_name, pseudonym = excluded.pseudonym,
        date_offset_days = excluded.date_offset_days, last_run = excluded.last_run""",
    """INSERT INTO studies VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (original_study_uid) DO
        UPDATE SET new_study_uid = excluded.new_study_uid,
        original_accession = excluded.original_accession,
        new_accession = excluded.new_accession, pseudonym = excluded.pseudonym,
        last_run = excluded.last_run""",
    """INSERT INTO uids VALUES (?, ?, ?, ?) ON CONFLICT (original_uid) DO UPDATE SET
        new_uid = excluded.new_uid, last_run = excluded.last_run""",
    """INSERT INTO identifiers VALUES (?, ?, ?, ?, ?) ON CONFLICT (keyword, original_value)
        DO UPDATE SET token = excluded.token, last_run = excluded.last_run""",
)


class Crosswalk:
    """An open crosswalk database; use as a context manager.

    Rows are buffered and written in short transactions, so a second run sharing the
    headers folder waits at most for one batch, never for a whole run. A rerun with
    another key or date range updates the rows it touches (``last_run`` says when), so
    the crosswalk always describes the latest release.
    """

    def __init__(self, headers: Path) -> None:
        make_private_dirs(headers, headers)
        self._path = db_path(headers)
        if not self._path.exists():  # create it owner-only before SQLite opens it
            os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._run = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._pending: list[CrosswalkRows] = []
        try:
            self._conn = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S)
            self._set_up()
        except sqlite3.Error as exc:
            raise OutputError(f"crosswalk database {self._path}: {exc}") from exc
        for suffix in ("-wal", "-shm"):
            side = self._path.with_name(self._path.name + suffix)
            if side.exists():
                side.chmod(0o600)

    def _set_up(self) -> None:
        """WAL mode and the schema. Switching to WAL takes a lock for which SQLite does
        not wait (it answers "locked" at once while another run sets up the same new
        database), so that step is retried for up to the busy timeout."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        pause = 0.01
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def add(self, rows: CrosswalkRows) -> None:
        """Record one file's pairs (written with the next batch)."""
        self._pending.append(rows)
        if len(self._pending) >= _COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows in one short transaction."""
        if not self._pending:
            return
        run = self._run
        patients: list[tuple[object, ...]] = []
        studies: list[tuple[object, ...]] = []
        uids: list[tuple[object, ...]] = []
        identifiers: list[tuple[object, ...]] = []
        for rows in self._pending:
            patients.append((rows.patient_identity, rows.patient_id, rows.patient_name,
                             rows.pseudonym, rows.date_offset_days, run, run))  # fmt: skip
            studies += [(*study, rows.pseudonym, run, run) for study in rows.studies]
            uids += [(*pair, run, run) for pair in rows.uids]
            identifiers += [(*triple, run, run) for triple in rows.identifiers]
        try:
            with self._conn:
                batches = (patients, studies, uids, identifiers)
                for statement, values in zip(_UPSERTS, batches, strict=True):
                    self._conn.executemany(statement, values)
        except sqlite3.Error as exc:
            raise OutputError(f"crosswalk database {self._path}: {exc}") from exc
        self._pending.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
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
            os.fchmod(fd, 0o600)  # an older export may have looser permissions
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
