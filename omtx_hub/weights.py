"""Which model weights predict, identified by the content of the checkpoint files.

Boltz 2.2.1 loads the structure model from `--checkpoint`, or else from `<cache>/boltz2_conf.ckpt`,
and (only when an input asks for affinity) the affinity model from `--affinity_checkpoint`, or
else from `<cache>/boltz2_aff.ckpt` (`predict` in boltz/main.py). `download_boltz2` fetches the
two default files when they are missing, from model-gateway.boltz.bio, falling back to
huggingface.co/boltz-community/boltz-2, and checks neither their size nor their content.

So the weights are identified here by the sha256 of each checkpoint file that is used, computed
once per file (`checkpoint_sha256`). They count as the released Boltz-2 weights only when each
digest is one published for the released files (`RELEASED_CHECKPOINTS`); anything else, a
fine-tuned model, a truncated download or the generated test cache, is flagged `released:
false`.

Before a run's first shard, `prepare_cache` makes sure the cache holds what `download_boltz2`
would otherwise fetch inside every `boltz predict` (it runs on each call and downloads what is
missing: `mols.tar`, `mols/` extracted from it, `boltz2_conf.ckpt`, `boltz2_aff.ckpt`, the
affinity model even for a screen without affinity). Missing files are downloaded once, from
Boltz's own URLs (`MOL_URL`, `BOLTZ2_URL_WITH_FALLBACK`, `BOLTZ2_AFFINITY_URL_WITH_FALLBACK` in
boltz/main.py, tried in Boltz's order) or from a mirror (`OMTX_BOLTZ_WEIGHTS_URL`), under a
lock, into a temporary file moved into place only when complete, with its size and sha256
checked against the released file's; the checkpoints present are checked too (complete, not
changed since their sha256 was recorded, not a damaged copy of a released file). Whatever cannot
be provided is reported with the cache, the missing files and the ways to provide them.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omtx_hub.boltz_cache import (
    AFFINITY_CHECKPOINT,
    CACHE_FILES,
    MOLECULES_ARCHIVE,
    MOLECULES_DIR,
    STRUCTURE_CHECKPOINT,
    cache_directory,
    is_test_cache,
)
from omtx_hub.config import ConfigError, Runtime
from omtx_hub.fileio import replaced_atomically, sha256_file, write_atomically
from omtx_hub.records import Weights

log = logging.getLogger(__name__)

# A base URL that serves the three downloaded files under their own names (a mirror of
# huggingface.co/boltz-community/boltz-2/resolve/main), used instead of Boltz's hosts.
WEIGHTS_URL_VARIABLE = "OMTX_BOLTZ_WEIGHTS_URL"
# Held while a process downloads into the cache: another one waits, then finds the files.
DOWNLOAD_LOCK = ".omtx-hub-download.lock"
# Seconds a download may stall (connecting or between two reads) before it counts as failed.
DOWNLOAD_STALL_S = 60
PROGRESS_EVERY_S = 10
# Beside each checkpoint: its sha256, valid while the file keeps its size and mtime.
DIGEST_SUFFIX = ".sha256.json"


@dataclass(frozen=True)
class ReleasedCheckpoint:
    sha256: str
    size: int


# The released Boltz-2 checkpoints: Hugging Face boltz-community/boltz-2 at revision
# 6fdef46d763fee7fbb83ca5501ccceff43b85607, the files Boltz downloads. The digests are the
# files' Git LFS object ids (which are their sha256) with their sizes, as several independent
# public projects pin them (read through this project's code search; huggingface.co itself
# could not be reached from here). Check them against the source with
#   curl -sI https://huggingface.co/boltz-community/boltz-2/resolve/main/boltz2_conf.ckpt
# whose X-Linked-Etag header is the file's sha256 (docs/how-a-screen-runs.md, "Weights").
RELEASED_CHECKPOINTS = {
    STRUCTURE_CHECKPOINT: ReleasedCheckpoint(
        "090e82ac8c92f5e943fa1b39e7410a44027bea7243c0bbb3caa67a77fc1428e1", 2_286_561_469
    ),
    AFFINITY_CHECKPOINT: ReleasedCheckpoint(
        "dcc5cd3722b1c9eaa34267e4ae32f55cbbf1963f4c19319381ccfa30fdd2ca9e", 2_062_139_170
    ),
}
# The molecule archive at the same revision, pinned the same way; checked when downloaded
# (Boltz reads the extracted mols/, not the archive, so it is not part of the weights).
RELEASED_ARCHIVES = {
    MOLECULES_ARCHIVE: ReleasedCheckpoint(
        "39e076d96dbec6b4e86982bbda16f3a53a2a60c9bdc17828d88f6f9a0c7d1fd7", 1_855_662_080
    ),
}


def is_released(sha256: str) -> bool:
    """Whether a checkpoint with this sha256 is one of the released Boltz-2 files."""
    return any(released.sha256 == sha256 for released in RELEASED_CHECKPOINTS.values())


def _digest_record(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def _read_recorded_digest(path: Path, size: int, mtime_ns: int) -> str | None:
    try:
        recorded = json.loads(_digest_record(path).read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("size") == size and recorded.get("mtime_ns") == mtime_ns:
        return recorded.get("sha256")
    return None


def _record_digest(path: Path, size: int, mtime_ns: int, sha256: str) -> None:
    """Write the digest beside the checkpoint (atomically); a read-only directory only
    costs the next process another pass over the file."""
    record = {"size": size, "mtime_ns": mtime_ns, "sha256": sha256}
    try:
        write_atomically(_digest_record(path), json.dumps(record))
    except OSError as error:
        log.info("could not record the sha256 of %s beside it (%s)", path, error)


@cache
def _checkpoint_sha256(path: str, size: int, mtime_ns: int) -> str:
    recorded = _read_recorded_digest(Path(path), size, mtime_ns)
    if recorded is not None:
        return recorded
    log.info("computing the sha256 of %s (%.1f GB; once per file)", path, size / 1e9)
    digest = sha256_file(path)
    _record_digest(Path(path), size, mtime_ns, digest)
    return digest


def checkpoint_sha256(path: str | Path) -> str:
    """sha256 of a checkpoint, computed once per file: remembered by this process and in
    `<file>.sha256.json` beside it for other processes, both keyed by the file's size and
    modification time (so a file rewritten in place is hashed again)."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return _checkpoint_sha256(str(resolved), stat.st_size, stat.st_mtime_ns)


def checkpoint_paths(runtime: Runtime, *, affinity: bool) -> dict[str, Path]:
    """The checkpoint files Boltz loads: role ('structure', 'affinity') -> path. The affinity
    model is loaded only when the inputs ask for affinity."""
    cache_dir = cache_directory(runtime.cache)
    paths = {"structure": Path(runtime.checkpoint or cache_dir / STRUCTURE_CHECKPOINT)}
    if affinity:
        paths["affinity"] = Path(runtime.affinity_checkpoint or cache_dir / AFFINITY_CHECKPOINT)
    return {role: path.expanduser() for role, path in paths.items()}


def _default_file(runtime: Runtime, role: str) -> str | None:
    """The cache file name Boltz downloads for `role`, when no custom checkpoint is given."""
    if role == "structure" and runtime.checkpoint is None:
        return STRUCTURE_CHECKPOINT
    if role == "affinity" and runtime.affinity_checkpoint is None:
        return AFFINITY_CHECKPOINT
    return None


def weights_in_use(runtime: Runtime, affinity: bool = True) -> Weights:
    """The identity of the weights a screen predicts with: each used checkpoint's sha256.

    A default checkpoint that is not in the cache yet (prepare_cache downloads it; on
    Google Batch the planning machine never has it, the image has) is planned as the released
    file, by its published digest; the shard checks the file it loads (`verify_weights`).
    """
    test_cache = is_test_cache(runtime.cache)
    digests: dict[str, str] = {}
    to_download = []
    for role, path in checkpoint_paths(runtime, affinity=affinity).items():
        default = _default_file(runtime, role)
        if path.is_file():
            digests[role] = checkpoint_sha256(path)
        elif default is not None and not test_cache:
            digests[role] = RELEASED_CHECKPOINTS[default].sha256
            to_download.append(default)
        else:
            raise ConfigError(
                f"the {role} checkpoint {path} does not exist"
                + (
                    " (run `omtx-hub make-test-cache` to complete the test cache)"
                    if test_cache
                    else ""
                )
            )
    identity = "+".join(f"{role}:{digest[:12]}" for role, digest in digests.items())
    fields = {
        "identity": identity,
        "structure_sha256": digests["structure"],
        "affinity_sha256": digests.get("affinity"),
    }
    if test_cache:
        return Weights(
            **fields,
            released=False,
            note="random test weights from a generated cache (omtx_hub.testing.testcache): "
            "the scores are meaningless",
        )
    unreleased = [role for role, digest in digests.items() if not is_released(digest)]
    if unreleased:
        described = "; ".join(
            f"{role} checkpoint {checkpoint_paths(runtime, affinity=affinity)[role]} "
            f"(sha256 {digests[role]})"
            for role in unreleased
        )
        return Weights(
            **fields,
            released=False,
            note=f"weights that are not the released Boltz-2 checkpoints: {described}",
        )
    note = "released Boltz-2 weights (sha256 of the published checkpoints)"
    if to_download:
        note += f"; {', '.join(to_download)} not in {runtime.cache} yet: the run downloads it "
        note += "before its first shard, and each shard checks its sha256 before predicting"
    return Weights(**fields, released=True, note=note)


def verify_weights(planned: Weights, runtime: Runtime, *, affinity: bool) -> None:
    """Before a shard predicts: the cache is complete and the checkpoints it will load are
    the planned ones. A local run has prepared the cache before its first shard; a job on a
    machine of its own (Google Batch, Slurm) prepares its machine's cache here, so a plan made
    without the files is checked too."""
    paths = checkpoint_paths(runtime, affinity=affinity)
    prepare_cache(runtime, affinity=affinity, rehash=False)
    expected = {"structure": planned.structure_sha256, "affinity": planned.affinity_sha256}
    for role, path in paths.items():
        actual = checkpoint_sha256(path)
        if actual != expected[role]:
            raise ConfigError(
                f"the {role} checkpoint {path} has sha256 {actual}, but the screen was planned "
                f"with {expected[role]}: the weights changed after planning, or this machine "
                "holds other weights than the planning one. Nothing was predicted; plan again "
                "where the weights are the ones you mean to use."
            )


# --------------------------------------------------------------------------------------------
# The cache Boltz needs, provided once before the first shard
# --------------------------------------------------------------------------------------------


class CacheError(ConfigError):
    """The cache lacks files that cannot be downloaded, or holds a damaged one: running the
    job again changes nothing, so it is reported, not retried."""


class DownloadError(Exception):
    pass


def download_sources(name: str) -> list[str]:
    """Where `name` is downloaded from: the mirror, else Boltz's own URLs in its order."""
    mirror = os.environ.get(WEIGHTS_URL_VARIABLE)
    if mirror:
        return [f"{mirror.rstrip('/')}/{name}"]
    import boltz.main

    return {
        MOLECULES_ARCHIVE: [boltz.main.MOL_URL],
        STRUCTURE_CHECKPOINT: list(boltz.main.BOLTZ2_URL_WITH_FALLBACK),
        AFFINITY_CHECKPOINT: list(boltz.main.BOLTZ2_AFFINITY_URL_WITH_FALLBACK),
    }[name]


def missing_cache_files(cache_dir: Path) -> list[str]:
    """The cache entries `download_boltz2` would fetch (or extract), in its order."""
    return [name for name in CACHE_FILES if not (cache_dir / name).exists()]


@contextmanager
def _download_lock(cache_dir: Path, progress: Callable[[str], None]) -> Iterator[None]:
    """One process at a time downloads into a cache; the others wait for it to finish."""
    with open(cache_dir / DOWNLOAD_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another process that is downloading into {cache_dir}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _size(count: float) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def _download(url: str, target: Path, progress: Callable[[str], None]) -> tuple[int, str]:
    """Fetch `url` into `target` through a temporary sibling moved into place only when the
    whole file (Content-Length, when the server sends one) has arrived; (size, sha256)."""
    digest = hashlib.sha256()
    received = 0
    try:
        with (
            replaced_atomically(target) as staging,
            urllib.request.urlopen(url, timeout=DOWNLOAD_STALL_S) as response,  # noqa: S310
            open(staging, "wb") as output,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            started = last_report = time.monotonic()
            while block := response.read(1 << 20):
                output.write(block)
                digest.update(block)
                received += len(block)
                now = time.monotonic()
                if now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    share = f" of {_size(total)} ({100 * received / total:.0f}%)" if total else ""
                    rate = received / max(now - started, 1e-3)
                    progress(f"{target.name}: {_size(received)}{share}, {_size(rate)}/s")
            if total is not None and received != total:
                raise DownloadError(f"the connection ended after {received} of {total} bytes")
    except (OSError, http.client.HTTPException) as error:
        # urllib's URLError and HTTPError, socket timeouts, IncompleteRead, the disk
        raise DownloadError(f"{type(error).__name__}: {error}") from error
    return received, digest.hexdigest()


def _fetch(cache_dir: Path, name: str, progress: Callable[[str], None]) -> None:
    """Download `name` from its sources in turn; it must be the released file."""
    errors = []
    for url in download_sources(name):
        progress(f"downloading {name} from {url} into {cache_dir}")
        target = cache_dir / name
        try:
            size, sha256 = _download(url, target, progress)
        except DownloadError as error:
            errors.append(f"{url}: {error}")
            continue
        released = RELEASED_CHECKPOINTS.get(name) or RELEASED_ARCHIVES.get(name)
        if released is not None and (size, sha256) != (released.size, released.sha256):
            target.unlink()
            errors.append(
                f"{url}: the file is {size} bytes with sha256 {sha256}, not the released "
                f"{released.size} bytes with sha256 {released.sha256} (a damaged download, "
                "or the host serves other weights now: docs/how-a-screen-runs.md, Weights)"
            )
            continue
        if name in RELEASED_CHECKPOINTS:
            stat = target.stat()
            _record_digest(target, stat.st_size, stat.st_mtime_ns, sha256)
        progress(f"{name}: {_size(size)} downloaded (sha256 {sha256})")
        return
    raise DownloadError("; ".join(errors))


def _extract_molecules(cache_dir: Path, progress: Callable[[str], None]) -> None:
    """Unpack `mols/` from `mols.tar` as download_boltz2 does (into the cache), through a
    temporary directory, so that an interrupted extraction leaves no partial `mols/`."""
    progress(f"extracting {MOLECULES_DIR}/ from {cache_dir / MOLECULES_ARCHIVE}")
    staging = cache_dir / f".{MOLECULES_DIR}.extract-{uuid.uuid4().hex}"
    try:
        with tarfile.open(cache_dir / MOLECULES_ARCHIVE) as archive:
            archive.extractall(staging, filter="data")
        if not (staging / MOLECULES_DIR).is_dir():
            raise DownloadError(f"{MOLECULES_ARCHIVE} holds no {MOLECULES_DIR}/ directory")
        os.replace(staging / MOLECULES_DIR, cache_dir / MOLECULES_DIR)
    except (OSError, tarfile.TarError) as error:
        raise DownloadError(f"{MOLECULES_ARCHIVE} cannot be extracted: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def how_to_provide(cache_dir: Path) -> str:
    return (
        "Provide them in one of these ways, then run again:\n"
        f"  - copy the cache from a machine that has it: rsync -a OTHER:{cache_dir}/ "
        f"{cache_dir}/ (each checkpoint is checked against the released sha256, "
        "docs/how-a-screen-runs.md, Weights);\n"
        f"  - download from a mirror this machine can reach: export {WEIGHTS_URL_VARIABLE}="
        "<URL serving mols.tar, boltz2_conf.ckpt and boltz2_aff.ckpt>;\n"
        "  - try the workflow without the real weights: `omtx-hub make-test-cache DIR` and "
        "runtime.cache: DIR (random weights, every result flagged released_weights: false; "
        "config/test-weights.yaml is such an overlay)."
    )


def _canonical_molecules_missing(mols_dir: Path) -> list[str]:
    """The molecule files Boltz-2 loads for every protein (the 20 amino acids and UNK,
    `const.canonical_tokens`; boltz/data/mol.py load_canonicals) that `mols_dir` lacks."""
    from boltz.data import const

    return [
        f"{code}.pkl" for code in const.canonical_tokens if not (mols_dir / f"{code}.pkl").is_file()
    ]


def _checkpoint_problem(path: Path, *, rehash: bool) -> str | None:
    """Why Boltz could not load the checkpoint at `path`, or it is not the file it was."""
    if not path.is_file():
        return f"{path} does not exist"
    if not zipfile.is_zipfile(path):
        # torch.save writes a zip archive: a truncated or empty file has no central directory
        # (Boltz then ends with an opaque "Aborted!").
        return (
            f"{path} ({path.stat().st_size} bytes) is not a complete checkpoint (torch "
            "checkpoints are zip archives; a truncated download or an empty file is not)"
        )
    if not rehash:
        return None
    stat = path.stat()
    recorded = _read_recorded_digest(path, stat.st_size, stat.st_mtime_ns)
    actual = sha256_file(path)
    if recorded is not None and recorded != actual:
        return (
            f"{path} has sha256 {actual}, but {recorded} was recorded for it (in "
            f"{_digest_record(path).name}, with the same size and time): its content changed "
            "without being rewritten, a damaged file"
        )
    released = RELEASED_CHECKPOINTS.get(path.name)
    if released is not None and stat.st_size == released.size and actual != released.sha256:
        return (
            f"{path} has the released file's size ({released.size} bytes) but sha256 "
            f"{actual}, not the released {released.sha256}: a damaged copy"
        )
    if recorded is None:
        _record_digest(path, stat.st_size, stat.st_mtime_ns, actual)
    return None


def prepare_cache(
    runtime: Runtime,
    *,
    affinity: bool,
    rehash: bool,
    progress: Callable[[str], None] = log.info,
) -> None:
    """Make the cache hold what every `boltz predict` of the screen needs, or raise
    CacheError saying what is missing or damaged and how to provide it.

    Missing files are downloaded (one process at a time per cache), except into a generated
    test cache. The checkpoints that will be loaded are checked for completeness; with
    `rehash`, their content is hashed again and compared with the digest recorded beside them
    and, for a file of the released size, with the released digest.
    """
    cache_dir = cache_directory(runtime.cache)
    missing = missing_cache_files(cache_dir)
    if missing:
        if is_test_cache(cache_dir):
            raise CacheError(
                f"the test cache {cache_dir} (runtime.cache) lacks {', '.join(missing)}: run "
                f"`omtx-hub make-test-cache {cache_dir}` to complete it (nothing is downloaded "
                "into a cache of random test weights)"
            )
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with _download_lock(cache_dir, progress):
                for name in missing_cache_files(cache_dir):
                    if name == MOLECULES_DIR:
                        _extract_molecules(cache_dir, progress)
                    else:
                        _fetch(cache_dir, name, progress)
        except (OSError, DownloadError) as error:
            raise CacheError(
                f"Boltz-2's cache {cache_dir} (runtime.cache) lacks "
                f"{', '.join(missing_cache_files(cache_dir))}, which boltz predict needs "
                "(it downloads them when missing, on every call: download_boltz2 in "
                f"boltz/main.py), and they could not be downloaded: {error}.\n"
                f"{how_to_provide(cache_dir)}"
            ) from None
    problems = [
        f"{cache_dir / MOLECULES_DIR} lacks {', '.join(absent)} (delete it to have it "
        f"extracted again from {MOLECULES_ARCHIVE})"
        for absent in [_canonical_molecules_missing(cache_dir / MOLECULES_DIR)]
        if absent
    ]
    for path in checkpoint_paths(runtime, affinity=affinity).values():
        if rehash and path.is_file():
            progress(f"checking {path} ({_size(path.stat().st_size)})")
        if problem := _checkpoint_problem(path, rehash=rehash):
            problems.append(problem)
    if problems:
        raise CacheError(
            f"Boltz-2's cache {cache_dir} (runtime.cache) holds damaged files:\n  - "
            + "\n  - ".join(problems)
            + "\nDelete them and run again to download them anew (a checkpoint you made "
            f"yourself: write it again), or copy them from a machine where they work.\n"
            f"{how_to_provide(cache_dir)}"
        )
