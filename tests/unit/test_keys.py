"""Cache keys: everything that changes a prediction's numbers changes its key, nothing else does.

The loops run over the config models' own fields, so a field added later must be classified
here (a new model field is assumed to change numbers until a test says otherwise).
"""

from __future__ import annotations

import os
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

import omtx_hub.plan as plan_module
from omtx_hub.config import Model, Runtime, load_config
from omtx_hub.plan import build_plan
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore
from tests.screens import write_screen

PROTEIN = {"name": "P1", "sequence": "MKTAYIAKQR"}
# Runtime settings that change the numbers Boltz computes, and those that only change where
# or how fast it runs. The MSA server settings change the MSA of `msa: server` proteins only.
RUNTIME_CHANGING_NUMBERS = {"precision", "checkpoint", "affinity_checkpoint"}
RUNTIME_CHANGING_MSA = {"msa_server_url", "msa_pairing_strategy"}
# `deterministic` only removes the run-to-run noise of GPU kernels (README, Reproducibility).
RUNTIME_NOT_CHANGING_NUMBERS = {
    "accelerator",
    "devices",
    "cache",
    "num_workers",
    "use_kernels",
    "deterministic",
}


def keys_of(raw: dict) -> list[str]:
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    return [target["key"] for shard in plan.shards.values() for target in shard.targets]


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
        return 1.5
    if default is None and field == "seed":
        return 7
    raise AssertionError(f"model field {field!r} ({default!r}) is new: say how to change it")


@pytest.mark.parametrize("field", sorted(Model.model_fields))
def test_every_model_field_changes_every_key(tmp_path, field):
    default = Model.model_fields[field].default
    changed = {field: another_valid_value(field, default)}
    base = keys_of(screen(tmp_path))
    assert set(base).isdisjoint(keys_of(screen(tmp_path, model=changed)))


def test_runtime_fields_are_all_classified():
    classified = RUNTIME_CHANGING_NUMBERS | RUNTIME_CHANGING_MSA | RUNTIME_NOT_CHANGING_NUMBERS
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
        ("msa_server_url", "https://msa.example.org"),
        ("msa_pairing_strategy", "complete"),
    ],
)
def test_runtime_fields_that_do_not_change_numbers_keep_every_key(tmp_path, field, value):
    # (For single-sequence proteins the MSA server is never asked.)
    assert field in RUNTIME_NOT_CHANGING_NUMBERS | RUNTIME_CHANGING_MSA
    base = keys_of(screen(tmp_path))
    assert keys_of(screen(tmp_path, runtime={field: value})) == base


def test_another_cache_directory_keeps_keys(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    base = keys_of(screen(tmp_path))
    assert keys_of(screen(tmp_path, runtime={"cache": str(tmp_path / "elsewhere")})) == base


@pytest.mark.parametrize(
    ("field", "value"),
    [("msa_server_url", "https://msa.example.org"), ("msa_pairing_strategy", "complete")],
)
def test_msa_server_settings_change_keys_of_server_msa_proteins(tmp_path, field, value):
    proteins = [{**PROTEIN, "msa": "server"}]
    base = keys_of(screen(tmp_path, proteins=proteins))
    changed = keys_of(screen(tmp_path, proteins=proteins, runtime={field: value}))
    assert set(base).isdisjoint(changed)


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


def test_both_checkpoints_are_part_of_the_key(tmp_path):
    structure, affinity_a, affinity_b = (tmp_path / f"{n}.ckpt" for n in ("s", "a1", "a2"))
    structure.write_bytes(b"structure")
    affinity_a.write_bytes(b"affinity 1")
    affinity_b.write_bytes(b"affinity 2")
    one = keys_of(
        screen(
            tmp_path, runtime={"checkpoint": str(structure), "affinity_checkpoint": str(affinity_a)}
        )
    )
    two = keys_of(
        screen(
            tmp_path, runtime={"checkpoint": str(structure), "affinity_checkpoint": str(affinity_b)}
        )
    )
    assert set(one).isdisjoint(two)


def test_custom_checkpoints_are_flagged_as_not_released(tmp_path):
    checkpoint = tmp_path / "mine.ckpt"
    checkpoint.write_bytes(b"weights")
    config = load_config(screen(tmp_path, runtime={"checkpoint": str(checkpoint)}))
    plan = build_plan(config, LocalStore(config.store))
    assert not plan.weights.released
    assert plan.weights.identity.startswith("checkpoints:")


def test_the_boltz_version_is_part_of_every_key(tmp_path, monkeypatch):
    raw = screen(tmp_path)
    installed = keys_of(raw)
    assert plan_module.prediction_spec(load_config(raw))["boltz"] == installed_version("boltz")

    def upgraded(package: str) -> str:
        return "2.3.0" if package == "boltz" else installed_version(package)

    monkeypatch.setattr(plan_module, "version", upgraded)
    assert set(installed).isdisjoint(keys_of(raw))


def test_sheet_validated_without_affinity_is_checked_again_with_affinity(tmp_path):
    # 130 heavy atoms: valid without affinity, over Boltz-2's affinity limit with it. The
    # validated sheet cached by the first plan must not let the second skip the check.
    raw = screen(tmp_path, rows=[("small", "CCO"), ("big", "C" * 130)])
    assert len(keys_of({**raw, "model": {"affinity": False}})) == 2
    with pytest.raises(SheetError, match="130 atoms as Boltz counts them"):
        keys_of({**raw, "model": {"affinity": True}})


# The key of one target under the default settings, released weights and Boltz 2.2.1. A change
# here invalidates every result store: make it on purpose (say so in the release notes), never
# as a side effect of a refactoring. Last changed on purpose: per-target seeding
# (plan.SEEDING_SCHEME "per-target-v1").
GOLDEN_KEYS = {
    "empty": "d8fcb784f0280edd484ba521273983d3f301d50277bbd2079d8196b9ab31351a",
    "server": "32accab1d6f7a37a196059274e697067ffcde94dce729ec72a35b850d9a9dc57",
}


@pytest.mark.parametrize("msa", sorted(GOLDEN_KEYS))
def test_keys_are_stable(tmp_path, msa):
    assert installed_version("boltz") == "2.2.1", "a new Boltz changes every key: update these"
    (tmp_path / "cache").mkdir()  # no test-weights marker: the released weights
    raw = screen(
        tmp_path,
        rows=[("eth", "CCO")],
        proteins=[{**PROTEIN, "msa": msa}],
        runtime={"cache": str(tmp_path / "cache")},
    )
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
    # Same path, same size, new content and time: the per-process digest cache must notice.
    checkpoint = tmp_path / "mine.ckpt"
    checkpoint.write_bytes(b"weights 1")
    raw = screen(tmp_path, runtime={"checkpoint": str(checkpoint)})
    before = keys_of(raw)
    checkpoint.write_bytes(b"weights 2")
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert set(before).isdisjoint(keys_of(raw))


def test_shards_name_their_protein_and_number(tmp_path):
    config = load_config(screen(tmp_path, shard_size=2))
    plan = build_plan(config, LocalStore(config.store))
    shard = plan.shard("P1", "00001")
    assert (shard.protein, shard.name) == ("P1", "00001")
    assert plan.weights.released is True
