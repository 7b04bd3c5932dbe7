"""Secret key files (link signing, session tokens): ≥ 32 random bytes, created once, exclusively, 0600."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from dockpatrol.errors import ConfigError

MIN_KEY_BYTES = 32


def load_or_create_key(path: Path, *, what: str) -> bytes:
    """The key stored at ``path``, created on first use.

    The new key is written to a private temp file and hard-linked into place, which fails when
    the name already exists: concurrent first starts all end up reading the one key that won,
    and a reader never sees a half-written file. A short or empty file is refused, not used.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # O_EXCL, mode 0600
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(MIN_KEY_BYTES))
                    fh.flush()
                    os.fsync(fh.fileno())
                with contextlib.suppress(FileExistsError):  # another process won the race: use its key
                    os.link(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        key = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{what} key {path} is a directory; it must be a file") from None
    except OSError as exc:
        raise ConfigError(f"{what} key {path}: {exc.strerror or exc}") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{what} key {path} holds {len(key)} bytes; at least {MIN_KEY_BYTES} random bytes are required "
            "(delete the file to have a new key made; links and sessions signed with the old one stop working)"
        )
    return key
