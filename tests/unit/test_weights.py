"""The weights' identity: the sha256 of each checkpoint used, computed once per file, and
recognised as the released Boltz-2 weights only by the published digests."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import zipfile
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import boltz.main
import pytest
from boltz.data import const

import omtx_hub.weights as weights_module
from omtx_hub.boltz_cache import AFFINITY_CHECKPOINT, STRUCTURE_CHECKPOINT, TEST_WEIGHTS_MARKER
from omtx_hub.cli import released_weights_reachable
from omtx_hub.config import ConfigError, Runtime
from omtx_hub.testing.loopback import serving
from omtx_hub.weights import (
    DIGEST_SUFFIX,
    DOWNLOAD_LOCK,
    RELEASED_ARCHIVES,
    RELEASED_CHECKPOINTS,
    WEIGHTS_URL_VARIABLE,
    CacheError,
    ReleasedCheckpoint,
    checkpoint_paths,
    checkpoint_sha256,
    prepare_cache,
    verify_weights,
    weights_in_use,
)


def write_cache(directory: Path, structure: bytes = b"s", affinity: bytes = b"a") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "boltz2_conf.ckpt").write_bytes(structure)
    (directory / "boltz2_aff.ckpt").write_bytes(affinity)
    return directory


def checkpoint_bytes(content: bytes) -> bytes:
    """A file that is a complete zip archive, as torch.save writes checkpoints."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.pkl", content)
    return buffer.getvalue()


def molecules_archive() -> bytes:
    """A mols.tar holding mols/<code>.pkl for Boltz's canonical residues."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for code in const.canonical_tokens:
            info = tarfile.TarInfo(f"mols/{code}.pkl")
            info.size = len(code)
            archive.addfile(info, io.BytesIO(code.encode()))
    return buffer.getvalue()


def write_complete_cache(directory: Path) -> Path:
    """Everything download_boltz2 looks for, the checkpoints small zip archives."""
    directory.mkdir(parents=True)
    (directory / "mols.tar").write_bytes(molecules_archive())
    with tarfile.open(directory / "mols.tar") as archive:
        archive.extractall(directory, filter="data")
    (directory / "boltz2_conf.ckpt").write_bytes(checkpoint_bytes(b"structure"))
    (directory / "boltz2_aff.ckpt").write_bytes(checkpoint_bytes(b"affinity"))
    return directory


def test_the_file_names_are_boltzs(boltz_test_cache):
    # boltz/main.py predict: cache / "boltz2_conf.ckpt", cache / "boltz2_aff.ckpt"; the test
    # cache writes them under the same names.
    assert {STRUCTURE_CHECKPOINT, AFFINITY_CHECKPOINT} == set(RELEASED_CHECKPOINTS)
    paths = checkpoint_paths(Runtime(cache=str(boltz_test_cache)), affinity=True)
    assert all(path.is_file() for path in paths.values())


def test_the_digest_is_computed_once_and_kept_beside_the_file(tmp_path, monkeypatch):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights")
    hashed = []
    real = weights_module.sha256_file
    monkeypatch.setattr(weights_module, "sha256_file", lambda p: hashed.append(p) or real(p))
    digest = checkpoint_sha256(checkpoint)
    assert digest == hashlib.sha256(b"weights").hexdigest()
    recorded = json.loads((tmp_path / f"model.ckpt{DIGEST_SUFFIX}").read_text())
    assert recorded["sha256"] == digest and recorded["size"] == len(b"weights")
    # Another process (no in-process cache) reads the recorded digest instead of the file.
    weights_module._checkpoint_sha256.cache_clear()
    assert checkpoint_sha256(checkpoint) == digest
    assert len(hashed) == 1


def test_a_rewritten_file_is_hashed_again(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights 1")
    first = checkpoint_sha256(checkpoint)
    checkpoint.write_bytes(b"weights 2")
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    weights_module._checkpoint_sha256.cache_clear()
    assert checkpoint_sha256(checkpoint) == hashlib.sha256(b"weights 2").hexdigest() != first


def test_a_digest_that_cannot_be_recorded_only_costs_another_pass(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights")
    (tmp_path / f"model.ckpt{DIGEST_SUFFIX}").mkdir()  # in the way, as a read-only place is
    assert checkpoint_sha256(checkpoint) == hashlib.sha256(b"weights").hexdigest()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model.ckpt",
        f"model.ckpt{DIGEST_SUFFIX}",
    ]


def test_weights_carry_each_checkpoints_sha256(tmp_path):
    cache = write_cache(tmp_path / "cache", b"structure", b"affinity")
    weights = weights_in_use(Runtime(cache=str(cache)), affinity=True)
    assert weights.structure_sha256 == hashlib.sha256(b"structure").hexdigest()
    assert weights.affinity_sha256 == hashlib.sha256(b"affinity").hexdigest()
    assert weights.released is False
    assert "not the released Boltz-2 checkpoints" in weights.note
    assert weights.structure_sha256 in weights.note
    without_affinity = weights_in_use(Runtime(cache=str(cache)), affinity=False)
    assert without_affinity.affinity_sha256 is None


def test_released_weights_are_recognised_by_their_published_digest(tmp_path, monkeypatch):
    cache = write_cache(tmp_path / "cache", b"structure", b"affinity")
    for name, content in (("boltz2_conf.ckpt", b"structure"), ("boltz2_aff.ckpt", b"affinity")):
        published = ReleasedCheckpoint(hashlib.sha256(content).hexdigest(), len(content))
        monkeypatch.setitem(RELEASED_CHECKPOINTS, name, published)
    weights = weights_in_use(Runtime(cache=str(cache)), affinity=True)
    assert weights.released is True
    # A released file under another name (runtime.checkpoint) is still the released file.
    copy = tmp_path / "my-copy.ckpt"
    copy.write_bytes(b"structure")
    assert weights_in_use(Runtime(cache=str(cache), checkpoint=str(copy))).released is True


def test_missing_default_files_are_planned_as_the_released_ones(tmp_path):
    (tmp_path / "empty").mkdir()
    weights = weights_in_use(Runtime(cache=str(tmp_path / "empty")), affinity=True)
    assert weights.released is True
    assert weights.structure_sha256 == RELEASED_CHECKPOINTS["boltz2_conf.ckpt"].sha256
    assert weights.affinity_sha256 == RELEASED_CHECKPOINTS["boltz2_aff.ckpt"].sha256
    assert "checks its sha256 before predicting" in weights.note


def test_the_test_cache_is_flagged(boltz_test_cache, tmp_path):
    weights = weights_in_use(Runtime(cache=str(boltz_test_cache)), affinity=True)
    assert weights.released is False
    assert "random test weights" in weights.note and "meaningless" in weights.note
    # A test cache that lacks its checkpoints is never planned as the released weights.
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / TEST_WEIGHTS_MARKER).write_text("{}")
    with pytest.raises(ConfigError, match="make-test-cache"):
        weights_in_use(Runtime(cache=str(incomplete)))


def test_a_shard_refuses_other_weights_than_planned(tmp_path):
    cache = write_complete_cache(tmp_path / "cache")
    runtime = Runtime(cache=str(cache))
    planned = weights_in_use(runtime, affinity=True)
    verify_weights(planned, runtime, affinity=True)
    (cache / "boltz2_aff.ckpt").write_bytes(checkpoint_bytes(b"another affinity model"))
    stat = (cache / "boltz2_aff.ckpt").stat()
    os.utime(cache / "boltz2_aff.ckpt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(ConfigError, match="affinity checkpoint .* has sha256"):
        verify_weights(planned, runtime, affinity=True)
    # The affinity model is not loaded without affinity: nothing to refuse.
    verify_weights(weights_in_use(runtime, affinity=False), runtime, affinity=False)


# --- The cache prepared before the first shard -------------------------------------------


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def weights_host(files: dict[str, bytes], *, truncate: bool = False):
    """An HTTP server on 127.0.0.1 serving `files` by name; yields (base URL, requested
    names). `truncate` sends half of each file under the whole file's Content-Length."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            requested.append(name)
            if name not in files:
                self.send_error(404)
                return
            body = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if truncate else body)

        def log_message(self, *args):
            pass

    with serving(Handler) as url:
        yield url, requested


def released_files(monkeypatch) -> dict[str, bytes]:
    """Small stand-ins for the three downloaded files, recorded as the released ones."""
    files = {
        "mols.tar": molecules_archive(),
        "boltz2_conf.ckpt": checkpoint_bytes(b"released structure"),
        "boltz2_aff.ckpt": checkpoint_bytes(b"released affinity"),
    }
    for name, table in (
        ("boltz2_conf.ckpt", RELEASED_CHECKPOINTS),
        ("boltz2_aff.ckpt", RELEASED_CHECKPOINTS),
        ("mols.tar", RELEASED_ARCHIVES),
    ):
        published = ReleasedCheckpoint(hashlib.sha256(files[name]).hexdigest(), len(files[name]))
        monkeypatch.setitem(table, name, published)
    return files


def test_missing_files_are_downloaded_once_from_boltzs_urls_with_progress(tmp_path, monkeypatch):
    files = released_files(monkeypatch)
    cache = tmp_path / "cache"
    with weights_host(files) as (url, requested):
        # Boltz's own URL lists, in its order: the first host unreachable, the fallback not.
        monkeypatch.setattr(boltz.main, "MOL_URL", f"{url}/mols.tar")
        for name, variable in (
            ("boltz2_conf.ckpt", "BOLTZ2_URL_WITH_FALLBACK"),
            ("boltz2_aff.ckpt", "BOLTZ2_AFFINITY_URL_WITH_FALLBACK"),
        ):
            monkeypatch.setattr(
                boltz.main, variable, [f"{closed_port_url()}/{name}", f"{url}/{name}"]
            )
        messages: list[list[str]] = [[], []]
        # Two shards' processes at once: one downloads, the other waits and finds the files.
        runs = [
            threading.Thread(
                target=prepare_cache,
                args=(Runtime(cache=str(cache)),),
                kwargs={"affinity": False, "rehash": True, "progress": messages[i].append},
            )
            for i in range(2)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
    assert sorted(requested) == ["boltz2_aff.ckpt", "boltz2_conf.ckpt", "mols.tar"]
    for name in ("boltz2_conf.ckpt", "boltz2_aff.ckpt", "mols.tar"):
        assert (cache / name).read_bytes() == files[name]
    assert sorted(path.name for path in (cache / "mols").iterdir()) == sorted(
        f"{code}.pkl" for code in const.canonical_tokens
    )
    downloader = next(m for m in messages if any(line.startswith("downloading ") for line in m))
    assert f"downloading mols.tar from {url}/mols.tar into {cache}" in downloader
    assert any(
        line.startswith("boltz2_conf.ckpt: ") and "downloaded" in line for line in downloader
    )
    # The downloaded checkpoints' digests are recorded: planning reads them, not 2 GB.
    recorded = json.loads((cache / f"boltz2_conf.ckpt{DIGEST_SUFFIX}").read_text())
    assert recorded["sha256"] == RELEASED_CHECKPOINTS["boltz2_conf.ckpt"].sha256
    weights_module._checkpoint_sha256.cache_clear()
    assert weights_in_use(Runtime(cache=str(cache)), affinity=True).released is True
    # Nothing but the files, their digests and the lock is left in the cache.
    assert sorted(path.name for path in cache.iterdir()) == sorted(
        [
            DOWNLOAD_LOCK,
            "boltz2_aff.ckpt",
            f"boltz2_aff.ckpt{DIGEST_SUFFIX}",
            "boltz2_conf.ckpt",
            f"boltz2_conf.ckpt{DIGEST_SUFFIX}",
            "mols",
            "mols.tar",
        ]
    )


def test_an_unreachable_host_names_the_cache_what_is_missing_and_how_to_provide_it(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(WEIGHTS_URL_VARIABLE, closed_port_url())
    cache = tmp_path / "cache"
    with pytest.raises(CacheError) as error:
        prepare_cache(Runtime(cache=str(cache)), affinity=False, rehash=True)
    message = str(error.value)
    assert f"Boltz-2's cache {cache} (runtime.cache) lacks " in message
    assert "mols.tar, mols, boltz2_conf.ckpt, boltz2_aff.ckpt" in message
    assert "Connection refused" in message
    assert f"rsync -a OTHER:{cache}/ {cache}/" in message
    assert f"export {WEIGHTS_URL_VARIABLE}=" in message
    assert "omtx-hub make-test-cache DIR" in message
    assert [path.name for path in cache.iterdir()] == [DOWNLOAD_LOCK]


@pytest.mark.parametrize(
    ("serve", "expected"),
    [
        ("other-checkpoint", "boltz2_conf.ckpt: the file is .* not the released"),
        ("other-archive", "mols.tar: the file is .* not the released"),
        ("truncated", "connection ended after|IncompleteRead"),
    ],
)
def test_a_bad_download_is_refused_and_nothing_is_left_in_its_place(
    tmp_path, monkeypatch, serve, expected
):
    files = released_files(monkeypatch)
    if serve == "other-checkpoint":
        files["boltz2_conf.ckpt"] = checkpoint_bytes(b"something else")
    if serve == "other-archive":
        files["mols.tar"] += b"\0" * 512
    cache = tmp_path / "cache"
    with weights_host(files, truncate=serve == "truncated") as (url, _):
        monkeypatch.setenv(WEIGHTS_URL_VARIABLE, url)
        with pytest.raises(CacheError, match=expected) as error:
            prepare_cache(Runtime(cache=str(cache)), affinity=False, rehash=True)
    assert "lacks" in str(error.value) and "boltz2_conf.ckpt" in str(error.value)
    assert not (cache / "boltz2_conf.ckpt").exists()
    assert not [path for path in cache.iterdir() if ".download-" in path.name]
    if serve == "other-archive":
        assert not (cache / "mols.tar").exists() and not (cache / "mols").exists()


def rewrite_in_place(path: Path, content: bytes) -> None:
    """Change a file's bytes but keep its size and modification time (a damaged disk)."""
    stat = path.stat()
    assert len(content) == stat.st_size
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_damaged_checkpoints_are_reported(tmp_path, monkeypatch):
    cache = write_complete_cache(tmp_path / "cache")
    runtime = Runtime(cache=str(cache))
    prepare_cache(runtime, affinity=True, rehash=True)  # records each checkpoint's sha256
    structure = cache / "boltz2_conf.ckpt"
    original = structure.read_bytes()
    # Changed since its sha256 was recorded, same size and time: found by hashing it again.
    damaged = original.replace(b"structure", b"Structure")
    rewrite_in_place(structure, damaged)
    with pytest.raises(CacheError, match="was recorded for it") as error:
        prepare_cache(runtime, affinity=True, rehash=True)
    assert str(structure) in str(error.value) and hashlib.sha256(damaged).hexdigest() in str(
        error.value
    )
    # A file of the released size whose digest is not the released one.
    (cache / f"boltz2_conf.ckpt{DIGEST_SUFFIX}").unlink()
    published = ReleasedCheckpoint(hashlib.sha256(original).hexdigest(), len(original))
    monkeypatch.setitem(RELEASED_CHECKPOINTS, "boltz2_conf.ckpt", published)
    with pytest.raises(CacheError, match="released file's size .* a damaged copy"):
        prepare_cache(runtime, affinity=True, rehash=True)
    # A truncated checkpoint (Boltz: an opaque "Aborted!"), even without hashing.
    (cache / "boltz2_aff.ckpt").write_bytes(checkpoint_bytes(b"affinity")[:-10])
    with pytest.raises(CacheError, match="boltz2_aff.ckpt .* is not a complete checkpoint"):
        prepare_cache(runtime, affinity=True, rehash=False)
    # Without affinity Boltz never loads it; its presence is all download_boltz2 asks.
    structure.write_bytes(original)
    prepare_cache(runtime, affinity=False, rehash=True)


def test_the_test_cache_passes_and_an_incomplete_one_is_never_downloaded_into(
    boltz_test_cache, tmp_path, monkeypatch
):
    prepare_cache(Runtime(cache=str(boltz_test_cache)), affinity=True, rehash=True)
    monkeypatch.setenv(WEIGHTS_URL_VARIABLE, closed_port_url())
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / TEST_WEIGHTS_MARKER).write_text("{}")
    with pytest.raises(CacheError, match=f"make-test-cache {incomplete}"):
        prepare_cache(Runtime(cache=str(incomplete)), affinity=True, rehash=True)
    assert [path.name for path in incomplete.iterdir()] == [TEST_WEIGHTS_MARKER]


def test_the_demo_asks_the_mirror_whether_the_weights_can_be_had(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_URL_VARIABLE, closed_port_url())
    assert released_weights_reachable(tmp_path) is False
    with weights_host({}) as (url, _):
        monkeypatch.setenv(WEIGHTS_URL_VARIABLE, url)
        assert released_weights_reachable(tmp_path) is True
