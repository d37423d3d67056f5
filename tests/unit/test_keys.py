"""Cache keys: everything that can change a prediction changes its key, nothing else does.

Every config field is classified here as Boltz 2.2.1's source says (the table "What the key
contains" in docs/how-a-screen-runs.md gives each decision with its source location). The
loops run over the config models' own fields, so a field added later fails these tests until
it is classified.
"""

from __future__ import annotations

import os
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

import omtx_hub.keys as keys_module
from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER
from omtx_hub.config import Model, Runtime, load_config
from omtx_hub.keys import (
    AFFINITY_ONLY_FIELDS,
    ENGINE_FIELDS,
    KEY_SCHEME,
    NOT_CHANGING_PREDICTIONS,
    REPLICATE_FIELDS,
    server_msa_id,
)
from omtx_hub.layout import ScreenLayout
from omtx_hub.msa_server import store_server_msas
from omtx_hub.plan import build_plan, msa_identities
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore
from tests.screens import write_screen

PROTEIN = {"name": "P1", "sequence": "MKTAYIAKQR", "msa": "empty"}
SERVER_MSA = b"key,sequence\n-1,MKTAYIAKQR\n-1,MKTAYIAKQK"

# `model` settings that change the structure (and, through it, the affinity) Boltz predicts.
MODEL_CHANGING = {
    "recycling_steps",
    "sampling_steps",
    "diffusion_samples",
    "step_scale",
    "affinity",
    "use_potentials",
    "seed",
}
# Used by the affinity stage only: in the key when affinity is predicted.
MODEL_AFFINITY_ONLY = set(AFFINITY_ONLY_FIELDS)
# How many diffusion samples one forward pass denoises (tests/workflow/test_key_hygiene.py).
MODEL_NOT_CHANGING = set(NOT_CHANGING_PREDICTIONS)
# How many predictions (seeds) a target gets: each replicate has the key of the prediction
# with its seed (tests/unit/test_replicates.py).
MODEL_REPLICATES = set(REPLICATE_FIELDS)
# The engine and Chai-1's own settings: not in a Boltz-2 key (tests/unit/test_chai1_engine.py
# proves them in Chai-1's).
MODEL_ENGINE = set(ENGINE_FIELDS)

RUNTIME_CHANGING = {"precision"}
# In the key through the content of the checkpoint files they select (the affinity one only
# with affinity), not through their paths.
RUNTIME_THROUGH_CHECKPOINTS = {"checkpoint", "affinity_checkpoint", "cache", "chai1_downloads"}
# In the key through the content of the server MSA they select (`msa: server` proteins).
RUNTIME_THROUGH_MSA = {"msa_server_url", "msa_pairing_strategy", "msa_refresh"}
# Where or how fast Boltz runs; `deterministic`, `use_kernels` and `devices` change GPU numbers
# only within a GPU's run-to-run noise (docs/how-a-screen-runs.md, Reproducibility).
# `msa_timeout_s` bounds how long the MSA server is asked, not what it answers.
RUNTIME_NOT_CHANGING = {
    "accelerator",
    "devices",
    "num_workers",
    "use_kernels",
    "deterministic",
    "msa_timeout_s",
    "retry_failed",
    "chai1_python",
}


def plan_of(raw: dict, **options):
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store), **options)


def keys_of(raw: dict) -> list[str]:
    return [target.key for shard in plan_of(raw).shards.values() for target in shard.targets]


def screen(tmp_path: Path, **overrides) -> dict:
    overrides.setdefault("proteins", [PROTEIN])
    return write_screen(tmp_path, **overrides)


def another_valid_value(field: str, default):
    """A value of `field` different from its default that the model accepts."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1
    if default is None and field == "step_scale":
        return 1.7
    if default is None and field == "seed":
        return 7
    raise AssertionError(f"model field {field!r} ({default!r}) is new: say how to change it")


def test_model_fields_are_all_classified():
    classified = (
        MODEL_CHANGING | MODEL_AFFINITY_ONLY | MODEL_NOT_CHANGING | MODEL_REPLICATES | MODEL_ENGINE
    )
    assert set(Model.model_fields) == classified
    assert not MODEL_CHANGING & MODEL_AFFINITY_ONLY


@pytest.mark.parametrize("field", sorted(MODEL_CHANGING | MODEL_AFFINITY_ONLY))
def test_model_fields_that_change_predictions_change_every_key(tmp_path, field):
    # (Affinity is on by default: the affinity-only settings count.)
    changed = {field: another_valid_value(field, Model.model_fields[field].default)}
    base = keys_of(screen(tmp_path))
    assert set(base).isdisjoint(keys_of(screen(tmp_path, model=changed)))


@pytest.mark.parametrize("field", sorted(MODEL_AFFINITY_ONLY))
def test_affinity_only_settings_keep_keys_without_affinity(tmp_path, field):
    changed = {field: another_valid_value(field, Model.model_fields[field].default)}
    base = keys_of(screen(tmp_path, model={"affinity": False}))
    assert keys_of(screen(tmp_path, model={"affinity": False, **changed})) == base


@pytest.mark.parametrize("samples", [1, 3])
@pytest.mark.parametrize("field", sorted(MODEL_NOT_CHANGING))
def test_settings_that_cannot_change_predictions_keep_keys(tmp_path, field, samples):
    default = Model.model_fields[field].default
    base = keys_of(screen(tmp_path, model={"diffusion_samples": samples}))
    changed = {"diffusion_samples": samples, field: another_valid_value(field, default)}
    assert keys_of(screen(tmp_path, model=changed)) == base


def test_step_scale_null_is_boltz2s_default(tmp_path):
    # boltz/main.py: `step_scale = 1.5 if step_scale is None else step_scale` for Boltz-2.
    default = keys_of(screen(tmp_path, model={"step_scale": None}))
    assert keys_of(screen(tmp_path, model={"step_scale": 1.5})) == default
    assert set(default).isdisjoint(keys_of(screen(tmp_path, model={"step_scale": 1.6})))


def test_runtime_fields_are_all_classified():
    classified = (
        RUNTIME_CHANGING | RUNTIME_THROUGH_CHECKPOINTS | RUNTIME_THROUGH_MSA | RUNTIME_NOT_CHANGING
    )
    assert set(Runtime.model_fields) == classified


def test_precision_changes_every_key(tmp_path):
    base = keys_of(screen(tmp_path, runtime={"precision": "default"}))
    assert set(base).isdisjoint(keys_of(screen(tmp_path, runtime={"precision": "32"})))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accelerator", "cpu"),
        ("devices", 3),
        ("num_workers", 9),
        ("use_kernels", False),
        ("deterministic", True),
        ("msa_timeout_s", 60),
        ("msa_server_url", "https://msa.example.org"),
        ("msa_pairing_strategy", "complete"),
        ("msa_refresh", True),
        ("retry_failed", True),
    ],
)
def test_runtime_fields_that_do_not_change_numbers_keep_every_key(tmp_path, field, value):
    # (A single-sequence protein's keys do not depend on MSA server settings.)
    assert field in RUNTIME_NOT_CHANGING | RUNTIME_THROUGH_MSA
    base = keys_of(screen(tmp_path))
    assert keys_of(screen(tmp_path, runtime={field: value})) == base


def write_cache(directory: Path, structure: bytes, affinity: bytes, *, test: bool = False) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "boltz2_conf.ckpt").write_bytes(structure)
    (directory / "boltz2_aff.ckpt").write_bytes(affinity)
    if test:
        (directory / TEST_WEIGHTS_MARKER).write_text("{}")
    return str(directory)


def test_the_cache_is_keyed_by_its_checkpoints_content(tmp_path):
    one = write_cache(tmp_path / "one", b"structure", b"affinity")
    copy = write_cache(tmp_path / "copy", b"structure", b"affinity")
    other = write_cache(tmp_path / "other", b"structure", b"retrained affinity")
    base = keys_of(screen(tmp_path, runtime={"cache": one}))
    assert keys_of(screen(tmp_path, runtime={"cache": copy})) == base
    assert set(base).isdisjoint(keys_of(screen(tmp_path, runtime={"cache": other})))


@pytest.mark.parametrize("field", ["checkpoint", "affinity_checkpoint"])
def test_checkpoints_are_keyed_by_content_not_path(tmp_path, field):
    first, copy, other = (tmp_path / name for name in ("a.ckpt", "copy.ckpt", "b.ckpt"))
    first.write_bytes(b"weights A")
    copy.write_bytes(b"weights A")
    other.write_bytes(b"weights B")
    released = keys_of(screen(tmp_path))
    with_first = keys_of(screen(tmp_path, runtime={field: str(first)}))
    assert set(released).isdisjoint(with_first)
    assert keys_of(screen(tmp_path, runtime={field: str(copy)})) == with_first
    assert set(with_first).isdisjoint(keys_of(screen(tmp_path, runtime={field: str(other)})))
    first.write_bytes(b"weights A, retrained")
    assert set(with_first).isdisjoint(keys_of(screen(tmp_path, runtime={field: str(first)})))


def test_the_affinity_checkpoint_counts_only_with_affinity(tmp_path):
    one, two = tmp_path / "aff1.ckpt", tmp_path / "aff2.ckpt"
    one.write_bytes(b"affinity 1")
    two.write_bytes(b"affinity 2")

    def keys(affinity: bool, checkpoint: Path) -> list[str]:
        return keys_of(
            screen(
                tmp_path,
                model={"affinity": affinity},
                runtime={"affinity_checkpoint": str(checkpoint)},
            )
        )

    assert keys(False, one) == keys(False, two)
    assert set(keys(True, one)).isdisjoint(keys(True, two))
    assert plan_of(screen(tmp_path, model={"affinity": False})).weights.affinity_sha256 is None


def server_screen(tmp_path: Path, **runtime) -> dict:
    return screen(tmp_path, proteins=[{**PROTEIN, "msa": "server"}], runtime=runtime)


def store_msa(raw: dict, content: bytes, **runtime) -> None:
    config = load_config(raw)
    store_server_msas(
        LocalStore(config.store),
        [PROTEIN["sequence"]],
        [content],
        server_url=runtime.get("msa_server_url", config.runtime.msa_server_url),
        pairing_strategy=runtime.get("msa_pairing_strategy", config.runtime.msa_pairing_strategy),
    )


def test_a_server_msa_is_keyed_by_its_content(tmp_path):
    raw = server_screen(tmp_path)
    not_fetched = plan_of(raw)
    assert not_fetched.pending_msas == ["P1"]
    store_msa(raw, SERVER_MSA)
    fetched = keys_of(raw)
    assert set(fetched).isdisjoint(
        target.key for shard in not_fetched.shards.values() for target in shard.targets
    )
    # Another server that answers the same MSA: the same predictions, the same keys.
    elsewhere = {"msa_server_url": "https://msa.example.org"}
    store_msa(server_screen(tmp_path, **elsewhere), SERVER_MSA, **elsewhere)
    assert keys_of(server_screen(tmp_path, **elsewhere)) == fetched
    # Another MSA: other keys.
    store_msa(raw, SERVER_MSA + b"\n-1,MKTAYIAKQE")
    assert set(fetched).isdisjoint(keys_of(raw))


def test_a_run_that_refreshes_the_msa_does_not_plan_with_the_stored_one(tmp_path):
    raw = server_screen(tmp_path, msa_refresh=True)
    store_msa(raw, SERVER_MSA)
    assert plan_of(raw).pending_msas == []  # status, estimate: what the store has now
    assert plan_of(raw, fetching_msas_anew=True).pending_msas == ["P1"]


def test_an_msa_file_is_keyed_by_format_and_content(tmp_path):
    a3m = tmp_path / "p1.a3m"
    a3m.write_text(">query\nMKTAYIAKQR\n>hit\nMKTAYIAKQK\n")
    copy = tmp_path / "copy.a3m"
    copy.write_bytes(a3m.read_bytes())
    csv = tmp_path / "p1.csv"
    csv.write_text("key,sequence\n-1,MKTAYIAKQR\n-1,MKTAYIAKQK\n")

    def keys(path: Path) -> list[str]:
        return keys_of(screen(tmp_path, proteins=[{**PROTEIN, "msa": str(path)}]))

    assert keys(copy) == keys(a3m)
    assert set(keys(a3m)).isdisjoint(keys(csv))
    assert set(keys(a3m)).isdisjoint(keys_of(screen(tmp_path)))


def test_the_key_scheme_is_part_of_every_key(tmp_path, monkeypatch):
    raw = screen(tmp_path)
    assert plan_of(raw).spec["key_scheme"] == KEY_SCHEME
    current = keys_of(raw)
    monkeypatch.setattr(keys_module, "KEY_SCHEME", KEY_SCHEME + 1)
    assert set(current).isdisjoint(keys_of(raw))


def test_the_boltz_version_is_part_of_every_key(tmp_path, monkeypatch):
    raw = screen(tmp_path)
    installed = keys_of(raw)
    assert plan_of(raw).spec["boltz"] == installed_version("boltz")

    def upgraded(package: str) -> str:
        return "2.3.0" if package == "boltz" else installed_version(package)

    monkeypatch.setattr(keys_module, "version", upgraded)
    assert set(installed).isdisjoint(keys_of(raw))


def test_sheet_validated_without_affinity_is_checked_again_with_affinity(tmp_path):
    # 130 heavy atoms: valid without affinity, over Boltz-2's affinity limit with it. The
    # validated sheet cached by the first plan must not let the second skip the check.
    raw = screen(tmp_path, rows=[("small", "CCO"), ("big", "C" * 130)])
    assert len(keys_of({**raw, "model": {"affinity": False}})) == 2
    with pytest.raises(SheetError, match="130 atoms as Boltz counts them"):
        keys_of({**raw, "model": {"affinity": True}})


# The key of one target under the default settings, the released weights (planned by their
# published sha256: the cache is empty) and Boltz 2.2.1. A change here invalidates every
# result store: make it on purpose (raise plan.KEY_SCHEME when what goes into a key changes,
# and say so in the release notes), never as a side effect of a refactoring. Last changed on
# purpose: key scheme 2 (MSA content, checkpoint sha256, settings that cannot change a
# prediction left out).
GOLDEN_KEYS = {
    "empty": "d100b7d68a2eaf4a25a4eb9d78aa5cfb541be08eaf58f9bcb427a2dc2aa58256",
    "server": "859a75dcba3d8343b77d06025be9ea8e88436a909b3a55e115e1233d6135033c",
    "file": "69cc2c44396d7afdb03bc97b9e3781f6538dded27a2b03cd64ec27e6be4f1b56",
}


@pytest.mark.parametrize("msa", sorted(GOLDEN_KEYS))
def test_keys_are_stable(tmp_path, msa):
    assert installed_version("boltz") == "2.2.1", "a new Boltz changes every key: update these"
    (tmp_path / "cache").mkdir()  # no checkpoints, no test-weights marker: the released weights
    setting = msa
    if msa == "file":
        setting = str(tmp_path / "p1.a3m")
        Path(setting).write_text(">query\nMKTAYIAKQR\n>hit\nMKTAYIAKQK\n")
    raw = screen(
        tmp_path,
        rows=[("eth", "CCO")],
        proteins=[{**PROTEIN, "msa": setting}],
        runtime={"cache": str(tmp_path / "cache")},
    )
    if msa == "server":
        store_msa(raw, SERVER_MSA)
    assert keys_of(raw) == [GOLDEN_KEYS[msa]]


def test_the_key_is_of_the_modelled_molecule(tmp_path):
    # A salt and the protonation states Boltz neutralises are the molecule Boltz models, so
    # they share its key; a plain neutral molecule keeps the key it had before
    # standardisation was applied (its modelled SMILES is its canonical SMILES).
    (tmp_path / "cache").mkdir()
    raw = screen(
        tmp_path,
        rows=[
            ("eth", "CCO"),
            ("acid", "CC(=O)O"),
            ("acetate", "CC(=O)[O-]"),
            ("Na", "CC(=O)[O-].[Na+]"),
        ],
        proteins=[{**PROTEIN, "msa": "empty"}],
        runtime={"cache": str(tmp_path / "cache")},
        shard_size=1,
    )
    assert keys_of(raw)[0] == GOLDEN_KEYS["empty"]
    assert len(keys_of(raw)) == 2
    without_affinity = keys_of({**raw, "model": {"affinity": False}})
    assert len(without_affinity) == 3  # Boltz models acetate as given: its own target


def test_a_checkpoint_rewritten_in_place_gets_new_keys(tmp_path):
    # Same path, same size, new content and time: the digest caches must notice.
    checkpoint = tmp_path / "mine.ckpt"
    checkpoint.write_bytes(b"weights 1")
    raw = screen(tmp_path, runtime={"checkpoint": str(checkpoint)})
    before = keys_of(raw)
    checkpoint.write_bytes(b"weights 2")
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert set(before).isdisjoint(keys_of(raw))


def test_a_test_cache_is_flagged_and_keyed_by_its_checkpoints(tmp_path):
    released = write_cache(tmp_path / "released", b"structure", b"affinity")
    test = write_cache(tmp_path / "test", b"structure", b"affinity", test=True)
    assert plan_of(screen(tmp_path, runtime={"cache": test})).weights.released is False
    # The marker flags the results; the keys follow the checkpoints' content, as for any cache.
    assert keys_of(screen(tmp_path, runtime={"cache": test})) == keys_of(
        screen(tmp_path, runtime={"cache": released})
    )


def test_shards_name_their_protein_and_number(tmp_path):
    config = load_config(screen(tmp_path, shard_size=2))
    plan = build_plan(config, LocalStore(config.store))
    shard = plan.shard("P1", "00001")
    assert (shard.protein, shard.shard) == ("P1", "00001")


def test_a_server_msa_is_addressed_by_sequence_server_and_pairing():
    base = server_msa_id(["MKTAYIAKQR"], "https://a", "greedy")
    assert server_msa_id(["MKTAYIAKQR"], "https://a", "greedy") == base
    others = [
        server_msa_id(["MKTAYIAKQK"], "https://a", "greedy"),
        server_msa_id(["MKTAYIAKQR"], "https://b", "greedy"),
        server_msa_id(["MKTAYIAKQR"], "https://a", "complete"),
        server_msa_id(["MKTAYIAKQR", "GGGG"], "https://a", "greedy"),
    ]
    assert base not in others and len(set(others)) == len(others)


def test_a_screen_keeps_the_server_msa_its_fetch_job_recorded(tmp_path):
    # Another screen refreshed the store's copy since: this screen's keys stay those of the MSA
    # its shards read (its fetch_msa record); a new screen gets the store's.
    raw = server_screen(tmp_path)
    store_msa(raw, SERVER_MSA)
    first = plan_of(raw)
    query_id = server_msa_id([PROTEIN["sequence"]], first.config.runtime.msa_server_url, "greedy")
    record = LocalStore(raw["store"]).read_blob(f"msa/{query_id}/msa.json")
    results = tmp_path / "results"
    layout = ScreenLayout.of(results, "s1")
    layout.msa("P1").mkdir(parents=True)
    (layout.msa("P1") / "A.csv").write_bytes(SERVER_MSA)
    layout.msa_record("P1").write_bytes(record)
    store_msa(raw, SERVER_MSA + b"\n-1,MKTAYIAKQE")  # the refresh
    config = load_config(raw)
    identities = msa_identities(config, LocalStore(config.store), results_root=results)
    assert identities == first.msa_identities
    assert msa_identities(config, LocalStore(config.store)) != first.msa_identities
