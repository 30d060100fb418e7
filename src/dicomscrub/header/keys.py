"""The secret project key and the keyed derivations built on it.

Every replacement value (pseudonyms, UIDs, date offsets) is HMAC-SHA256 of a labelled
input under one project key, so workers and runs agree without coordination and nobody
without the key can confirm a guessed mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from dicomscrub.errors import ConfigError

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class ProjectKey:
    """A secret key; ``repr`` never shows it."""

    secret: bytes

    def __repr__(self) -> str:
        return "ProjectKey(<secret>)"

    def digest(self, label: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` in the namespace ``label``."""
        message = label.encode("utf-8") + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self.secret, message, hashlib.sha256).digest()


def load_or_create_key(path: Path) -> ProjectKey:
    """Read the key at ``path``; create it (owner-only, 0600) when it does not exist.

    Creation is race-safe: two workers starting at once end up with the same key.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secrets.token_hex(KEY_BYTES).encode("ascii") + b"\n")
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the key first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def load_key(path: Path) -> ProjectKey:
    """Read an existing key; workers use this so none of them ever makes its own."""
    try:
        return _read_key(path)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"key file {path} not found (it must be reachable from every worker)"
        ) from exc


def _read_key(path: Path) -> ProjectKey:
    text = path.read_text(encoding="ascii").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError(
            f"key file {path} is not a hex key; restore it or point --key-file elsewhere"
        ) from exc
    if len(secret) < 16:
        raise ConfigError(f"key file {path} holds fewer than 16 bytes")
    return ProjectKey(secret)
