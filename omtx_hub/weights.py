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
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omtx_hub.config import ConfigError, Runtime
from omtx_hub.paths import sha256_file
from omtx_hub.records import TEST_WEIGHTS_MARKER, Weights

log = logging.getLogger(__name__)

# The file names Boltz 2.2.1 uses in its cache (boltz/main.py: download_boltz2, predict).
STRUCTURE_CHECKPOINT = "boltz2_conf.ckpt"
AFFINITY_CHECKPOINT = "boltz2_aff.ckpt"
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
# whose X-Linked-Etag header is the file's sha256 (README, "Weights").
RELEASED_CHECKPOINTS = {
    STRUCTURE_CHECKPOINT: ReleasedCheckpoint(
        "090e82ac8c92f5e943fa1b39e7410a44027bea7243c0bbb3caa67a77fc1428e1", 2_286_561_469
    ),
    AFFINITY_CHECKPOINT: ReleasedCheckpoint(
        "dcc5cd3722b1c9eaa34267e4ae32f55cbbf1963f4c19319381ccfa30fdd2ca9e", 2_062_139_170
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
    record = _digest_record(path)
    staging = record.with_name(f".{record.name}.{uuid.uuid4().hex}")
    try:
        staging.write_text(json.dumps({"size": size, "mtime_ns": mtime_ns, "sha256": sha256}))
        os.replace(staging, record)
    except OSError as error:
        log.info("could not record the sha256 of %s beside it (%s)", path, error)
        staging.unlink(missing_ok=True)


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
    cache_dir = Path(runtime.cache).expanduser()
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

    A default checkpoint that is not in the cache yet (Boltz downloads it on first use; on
    Google Batch the planning machine never has it, the image has) is planned as the released
    file, by its published digest; the shard checks the file it loads (`verify_weights`).
    """
    test_cache = (Path(runtime.cache).expanduser() / TEST_WEIGHTS_MARKER).is_file()
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
        note += f"; {', '.join(to_download)} not in {runtime.cache} yet: Boltz downloads it, "
        note += "and each shard checks its sha256 before predicting"
    return Weights(**fields, released=True, note=note)


def verify_weights(planned: Weights, runtime: Runtime, *, affinity: bool) -> None:
    """Before a shard predicts: the checkpoints it will load are the planned ones. Missing
    default files are first downloaded with Boltz's own downloader (what `boltz predict`
    would do itself), so a plan made without them is checked too."""
    paths = checkpoint_paths(runtime, affinity=affinity)
    if any(not path.is_file() for path in paths.values()):
        from boltz.main import download_boltz2

        download_boltz2(Path(runtime.cache).expanduser())
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
