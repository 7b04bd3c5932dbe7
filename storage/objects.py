"""Object storage for imagery, evidence crops and flight logs: a local directory or MinIO/S3.

Keys are relative POSIX paths (``flights/F1/frames/00001.jpg``); both stores validate them the
same way so a key that works locally works in production.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from dockpatrol.errors import ConfigError, InvalidInput, NotFound, StorageError, Unavailable

_KEY_PART = re.compile(r"^[A-Za-z0-9._\-=+@,]+$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
MAX_KEY_LEN = 512
#: Longest life of a shared link: evidence links are for viewing now, not for keeping.
MAX_LINK_LIFETIME_S = 3600


def check_link_lifetime(expires_s: int) -> int:
    """``expires_s`` if it is a positive lifetime no longer than :data:`MAX_LINK_LIFETIME_S`."""
    if not 0 < expires_s <= MAX_LINK_LIFETIME_S:
        raise InvalidInput(f"link lifetime {expires_s} s is outside 1..{MAX_LINK_LIFETIME_S} s")
    return expires_s


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size_bytes: int
    content_type: str
    modified_at: datetime
    etag: str = ""


def validate_key(key: str) -> str:
    """Return the key if it is a safe relative path; raise InvalidInput naming the problem otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("object key is empty")
    if len(key) > MAX_KEY_LEN:
        raise InvalidInput(f"object key is {len(key)} characters long; the limit is {MAX_KEY_LEN}")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise InvalidInput(f"object key {key!r} is absolute; keys are relative paths like 'flights/F1/0001.jpg'")
    if "\\" in key:
        raise InvalidInput(f"object key {key!r} contains a backslash; use '/' between parts")
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidInput(f"object key {key!r} has an empty, '.' or '..' part; '..' could escape the store")
        if not _KEY_PART.match(part):
            raise InvalidInput(
                f"object key {key!r} has characters outside letters, digits and ._-=+@, in part {part!r}"
            )
    return key


class ObjectStore(Protocol):
    """What the platform needs from object storage."""

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> ObjectInfo: ...
    def get(self, key: str) -> bytes: ...
    def stat(self, key: str) -> ObjectInfo: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def delete(self, key: str) -> None: ...
    def presigned_url(self, key: str, *, expires_s: int = 3600) -> str: ...


_CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff",
                  ".tiff": "image/tiff", ".json": "application/json", ".geojson": "application/geo+json",
                  ".tlog": "application/octet-stream"}


class LocalObjectStore:
    """Objects as files under a root directory; writes are atomic (temp file, fsync, rename).

    Presigned URLs are API paths carrying an HMAC signature and expiry, verified by
    :meth:`verify_signature`, so links can be shared without exposing the store.
    """

    def __init__(self, root: Path, *, secret: bytes | None = None) -> None:
        from storage.keyfile import MIN_KEY_BYTES, load_or_create_key

        self.root = Path(root).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"object store {self.root} exists and is not a directory") from None
        if secret is not None and len(secret) < MIN_KEY_BYTES:
            raise ConfigError(f"link signing key is {len(secret)} bytes; at least {MIN_KEY_BYTES} are required")
        self._secret = secret or load_or_create_key(self.root.parent / ".objects-signing-key",
                                                    what="link signing")

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if self.root not in path.parents:
            raise InvalidInput(f"object key {key!r} resolves outside the object store")
        return path

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StorageError(f"cannot write object {key!r}: {exc.strerror}") from exc
        return self.stat(key)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"object {key!r} does not exist") from None

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"object {key!r} does not exist") from None
        if not stat.S_ISREG(st.st_mode):  # a "directory" key is a prefix, not an object
            raise NotFound(f"object {key!r} does not exist")
        return ObjectInfo(key, st.st_size, _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                          datetime.fromtimestamp(st.st_mtime, UTC))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield self.stat(key)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFound(f"object {key!r} does not exist") from None

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def presigned_url(self, key: str, *, expires_s: int = 3600) -> str:
        check_link_lifetime(expires_s)
        self.stat(key)
        expires = int(time.time()) + expires_s
        return f"/api/objects/{quote(key)}?expires={expires}&signature={self._signature(key, expires)}"

    def verify_signature(self, key: str, expires: int, signature: str) -> bool:
        """True for an unexpired link signed by this store; malformed input is simply False."""
        now = time.time()
        if not (now <= expires <= now + MAX_LINK_LIFETIME_S) or not _SIGNATURE.match(signature):
            return False
        try:
            validate_key(key)
        except InvalidInput:
            return False
        return hmac.compare_digest(self._signature(key, expires), signature)


class MinioObjectStore:
    """Objects in a MinIO / S3 bucket via the ``minio`` client; the bucket is created on first use."""

    def __init__(self, *, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool = False,
                 region: str = "us-east-1", timeout_s: float = 30.0, retries: int = 3) -> None:
        import urllib3
        from minio import Minio

        self.bucket = bucket
        # Bounded timeouts and retries: an unreachable endpoint fails in seconds, not minutes.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout_s, 10.0), read=timeout_s),
            retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        )
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region,
                             http_client=http)
        self._bucket_ready = False
        self.endpoint = endpoint

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except Exception as exc:
            raise self._translate(exc, f"bucket {self.bucket!r}") from exc
        self._bucket_ready = True

    def _translate(self, exc: Exception, what: str) -> Exception:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        if isinstance(exc, S3Error) and exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return NotFound(f"object {what} does not exist")
        if isinstance(exc, HTTPError | OSError):
            return Unavailable(f"S3 endpoint {self.endpoint} unreachable for {what}: {exc.__class__.__name__}")
        return StorageError(f"S3 request for {what} failed: {exc}")

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        try:
            self._client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except Exception as exc:
            raise self._translate(exc, repr(key)) from exc
        return self.stat(key)

    def get(self, key: str) -> bytes:
        validate_key(key)
        self._ensure_bucket()
        try:
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        except Exception as exc:
            raise self._translate(exc, repr(key)) from exc

    def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        try:
            st = self._client.stat_object(self.bucket, key)
        except Exception as exc:
            raise self._translate(exc, repr(key)) from exc
        return ObjectInfo(key, int(st.size or 0), st.content_type or "application/octet-stream",
                          st.last_modified or datetime.now(UTC), (st.etag or "").strip('"'))

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._ensure_bucket()
        try:
            for obj in self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
                yield ObjectInfo(obj.object_name or "", int(obj.size or 0), "application/octet-stream",
                                 obj.last_modified or datetime.now(UTC), (obj.etag or "").strip('"'))
        except Exception as exc:
            raise self._translate(exc, f"prefix {prefix!r}") from exc

    def delete(self, key: str) -> None:
        self.stat(key)  # S3 deletes of missing keys succeed silently; callers expect NotFound
        try:
            self._client.remove_object(self.bucket, key)
        except Exception as exc:
            raise self._translate(exc, repr(key)) from exc

    def presigned_url(self, key: str, *, expires_s: int = 3600) -> str:
        check_link_lifetime(expires_s)
        self.stat(key)
        return self._client.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_s))


def open_object_store(settings: object | None = None) -> ObjectStore:
    """The configured store: S3 when ``DOCKPATROL_S3_ENDPOINT`` is set, else the local directory."""
    from dockpatrol.settings import Settings, get_settings

    s: Settings = settings if isinstance(settings, Settings) else get_settings()
    if s.s3_endpoint:
        return MinioObjectStore(endpoint=s.s3_endpoint, access_key=s.s3_access_key, secret_key=s.s3_secret_key,
                                bucket=s.s3_bucket, secure=s.s3_secure, region=s.s3_region)
    return LocalObjectStore(s.resolved_objects_dir)
