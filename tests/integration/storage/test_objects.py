"""The ObjectStore contract, run against the local directory store and a real S3-protocol server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dockpatrol.errors import InvalidInput, NotFound
from storage.objects import LocalObjectStore, MinioObjectStore, ObjectStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    # A fresh bucket per test: proves the bucket is created on first use.
    yield MinioObjectStore(endpoint=endpoint, access_key="test", secret_key="testtest",
                           bucket=f"dp-{uuid.uuid4().hex[:12]}")


def test_put_get_stat_list_delete(store: ObjectStore) -> None:
    info = store.put("flights/F1/frames/00001.jpg", b"\xff\xd8jpeg", content_type="image/jpeg")
    assert info.size_bytes == 6
    store.put("flights/F1/log.json", b"{}")
    store.put("flights/F2/log.json", b"{}")
    assert store.get("flights/F1/frames/00001.jpg") == b"\xff\xd8jpeg"
    assert store.stat("flights/F1/log.json").size_bytes == 2
    assert sorted(o.key for o in store.list("flights/F1/")) == ["flights/F1/frames/00001.jpg", "flights/F1/log.json"]
    assert store.exists("flights/F2/log.json")
    store.delete("flights/F2/log.json")
    assert not store.exists("flights/F2/log.json")


def test_overwrite_replaces_content(store: ObjectStore) -> None:
    store.put("a/b.bin", b"one")
    store.put("a/b.bin", b"two!")
    assert store.get("a/b.bin") == b"two!"


@pytest.mark.parametrize("op", ["get", "stat", "delete"])
def test_missing_object_is_not_found(store: ObjectStore, op: str) -> None:
    with pytest.raises(NotFound, match=r"missing/key\.jpg"):
        getattr(store, op)("missing/key.jpg")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("../etc/passwd", "'..'"),
        ("flights/../../x", "'..'"),
        ("/abs/path.jpg", "absolute"),
        ("a//b", "empty"),
        ("a\\b", "backslash"),
        ("", "empty"),
        ("a/b c.jpg", "characters"),
    ],
)
def test_unsafe_keys_are_refused_before_any_write(store: ObjectStore, key: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.put(key, b"x")


def test_presigned_url_serves_the_object(store: ObjectStore) -> None:
    store.put("evidence/e1.jpg", b"crop")
    url = store.presigned_url("evidence/e1.jpg", expires_s=60)
    if isinstance(store, LocalObjectStore):
        from urllib.parse import parse_qs, urlparse

        q = parse_qs(urlparse(url).query)
        assert store.verify_signature("evidence/e1.jpg", int(q["expires"][0]), q["signature"][0])
        assert not store.verify_signature("evidence/e2.jpg", int(q["expires"][0]), q["signature"][0])
    else:
        assert httpx.get(url).content == b"crop"


def test_local_writes_leave_no_temp_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    for i in range(5):
        store.put(f"k/{i}.bin", bytes(1000))
    assert sorted(p.name for p in (tmp_path / "objects" / "k").iterdir()) == [f"{i}.bin" for i in range(5)]


def test_unreachable_s3_is_a_clear_error() -> None:
    from dockpatrol.errors import Unavailable

    dead = MinioObjectStore(endpoint="127.0.0.1:9", access_key="a", secret_key="b", bucket="dockpatrol",
                            timeout_s=2.0, retries=0)
    with pytest.raises(Unavailable, match=r"127\.0\.0\.1:9"):
        dead.put("a.bin", b"x")
