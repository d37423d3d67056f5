"""The launcher's pieces: option parsing, seed derivation, per-target reseeding, seeded
conformers, the Trainer it makes Boltz create, the naming of skipped records and the test
fault (no prediction runs here)."""

from __future__ import annotations

import os
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pytorch_lightning import Callback
from rdkit import Chem

from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER
from omtx_hub.boltz_launcher import (
    OUT_OF_MEMORY_VARIABLE,
    LaunchOptions,
    PerTargetSeeding,
    SkippedTargetReport,
    UsageError,
    conformer_seed,
    injected_out_of_memory,
    patched_boltz,
    split_options,
    target_seed,
)

IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"


@pytest.fixture(autouse=True)
def _launcher_process_environment():
    """The launcher runs as a process of its own, where Lightning's seeding, torch and
    `--deterministic` set environment variables (PL_GLOBAL_SEED, CUBLAS_WORKSPACE_CONFIG, ...);
    in this test process they are undone after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_split_options() -> None:
    assert split_options(["predict", "x.yaml"]) == (LaunchOptions(), ["predict", "x.yaml"])
    assert split_options(["--precision", "32", "predict", "x"]) == (
        LaunchOptions(precision=32),
        ["predict", "x"],
    )
    assert split_options(["--precision=bf16-mixed", "predict"]) == (
        LaunchOptions(precision="bf16-mixed"),
        ["predict"],
    )
    both = LaunchOptions(precision=32, deterministic=True)
    assert split_options(["--deterministic", "--precision", "32", "predict"]) == (both, ["predict"])
    assert split_options(["--precision", "32", "--deterministic", "predict"]) == (both, ["predict"])
    # Boltz's own options after the command are never touched.
    assert split_options(["predict", "--precision", "64", "--deterministic"]) == (
        LaunchOptions(),
        ["predict", "--precision", "64", "--deterministic"],
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--precision"], "--precision needs a value"),
        (["--precision", "64", "predict"], "invalid --precision '64'; choose from 32, bf16-mixed"),
    ],
)
def test_bad_launcher_options(argv, message) -> None:
    with pytest.raises(UsageError, match=message):
        split_options(argv)


def test_target_seed_depends_on_seed_record_and_step_only() -> None:
    seed = target_seed(0, "tabc", "predict")
    assert seed == target_seed(0, "tabc", "predict")
    others = {
        target_seed(1, "tabc", "predict"),
        target_seed(0, "tabd", "predict"),
        target_seed(0, "tabc", "features"),
    }
    assert len({seed, *others}) == 4
    # Lightning's (numpy's) seed range: an out-of-range seed would silently become 0.
    assert all(0 <= target_seed(s, f"t{s}", "predict") < 2**32 for s in range(200))


def test_conformer_seed_depends_on_seed_and_molecule_only() -> None:
    def molecule(smiles: str) -> Chem.Mol:
        return Chem.AddHs(Chem.MolFromSmiles(smiles))

    # The same molecule written another way is the same molecule.
    assert conformer_seed(0, molecule("CCO")) == conformer_seed(0, molecule("OCC"))
    assert conformer_seed(0, molecule("CCO")) != conformer_seed(1, molecule("CCO"))
    assert conformer_seed(0, molecule("CCO")) != conformer_seed(0, molecule("CCN"))
    # RDKit's randomSeed is a signed 32-bit int; -1 would mean "unseeded".
    assert all(0 <= conformer_seed(s, molecule("CCO")) < 2**31 for s in range(200))


def draws() -> tuple[float, float, float]:
    return torch.rand(1).item(), float(np.random.rand()), random.random()


def test_each_batch_is_reseeded_from_its_record() -> None:
    seeding = PerTargetSeeding()
    seeding.base_seed = 0

    def drawn_for(record_id: str) -> tuple[float, float, float]:
        batch = {"record": [SimpleNamespace(id=record_id)]}
        seeding.on_predict_batch_start(None, None, batch, batch_idx=0)
        return draws()

    first = drawn_for("tabc")
    draws()  # whatever ran in between
    assert drawn_for("tabc") == first
    assert drawn_for("tabd") != first


class Dataset:
    """Stands for Boltz's PredictionDataset: featurising draws from the global RNGs."""

    def __init__(self, record_ids: list[str]) -> None:
        self.manifest = SimpleNamespace(records=[SimpleNamespace(id=i) for i in record_ids])

    def __getitem__(self, index: int) -> tuple[float, float, float]:
        return draws()


def test_each_record_is_featurised_from_its_own_seed() -> None:
    seeding = PerTargetSeeding()
    get_item = seeding.seeded_features(Dataset.__getitem__)
    dataset = Dataset(["tabc", "tabd"])
    torch.manual_seed(3)
    unseeded = get_item(dataset, 0)
    assert get_item(dataset, 0) != unseeded  # Boltz did not seed: nor does the launcher
    seeding.base_seed = 0
    first = get_item(dataset, 0)
    assert get_item(Dataset(["tabd", "tabc"]), 1) == first  # position does not matter
    assert get_item(dataset, 1) != first


def test_no_reseeding_when_boltz_did_not_seed() -> None:
    seeding = PerTargetSeeding()
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    torch.rand(1)
    seeding.on_predict_batch_start(None, None, {"record": [SimpleNamespace(id="t1")]}, 0)
    assert torch.rand(1) == expected[1]


def test_a_batch_of_several_records_is_refused() -> None:
    seeding = PerTargetSeeding()
    seeding.base_seed = 0
    batch = {"record": [SimpleNamespace(id="t1"), SimpleNamespace(id="t2")]}
    with pytest.raises(RuntimeError, match="one record per predict batch, got 2"):
        seeding.on_predict_batch_start(None, None, batch, 0)


def test_deterministic_runs_switch_kernels_off_in_every_model() -> None:
    model = SimpleNamespace(use_kernels=True)
    PerTargetSeeding().on_predict_start(None, model)
    assert model.use_kernels is True
    PerTargetSeeding(disable_kernels=True).on_predict_start(None, model)
    assert model.use_kernels is False


def embedded(smiles: str) -> np.ndarray:
    """The reference conformer Boltz's own schema parser computes for `smiles`."""
    import boltz.data.parse.schema

    molecule = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert boltz.data.parse.schema.compute_3d_conformer(molecule)
    return molecule.GetConformer().GetPositions()


def test_conformers_depend_on_the_molecule_not_on_what_was_embedded_before() -> None:
    import boltz.main
    from rdkit.Chem import AllChem

    # Boltz alone: the same molecule twice in one process gets two different conformers.
    assert not np.array_equal(embedded(IBUPROFEN), embedded(IBUPROFEN))
    original_etkdg = AllChem.ETKDGv3
    with patched_boltz(LaunchOptions()):
        boltz.main.seed_everything(0)  # what `boltz predict --seed 0` does first
        first = embedded(IBUPROFEN)
        embedded("c1ccccc1O")
        assert np.array_equal(embedded(IBUPROFEN), first)
        assert AllChem.ETKDGv3 is original_etkdg
    with patched_boltz(LaunchOptions()):
        boltz.main.seed_everything(1)
        assert not np.array_equal(embedded(IBUPROFEN), first)


def test_boltz_names_are_restored() -> None:
    import boltz.data.module.inferencev2
    import boltz.data.parse.schema
    import boltz.main

    originals = (
        boltz.main.Trainer,
        boltz.main.seed_everything,
        boltz.data.parse.schema.compute_3d_conformer,
        boltz.data.module.inferencev2.PredictionDataset.__getitem__,
    )
    with patched_boltz(LaunchOptions(precision=32)) as seeding:
        assert boltz.main.seed_everything(5) == 5
        assert seeding.base_seed == 5
        assert boltz.main.Trainer is not originals[0]
    after = (
        boltz.main.Trainer,
        boltz.main.seed_everything,
        boltz.data.parse.schema.compute_3d_conformer,
        boltz.data.module.inferencev2.PredictionDataset.__getitem__,
    )
    assert after == originals


def test_trainer_gets_the_options_and_the_seeding_callback(monkeypatch) -> None:
    import boltz.main

    writer = Callback()  # stands for Boltz's prediction writer
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        with patched_boltz(LaunchOptions(precision=32, deterministic=True)) as seeding:
            # What boltz.main.predict does for boltz2.
            trainer = boltz.main.Trainer(
                accelerator="cpu",
                devices=1,
                precision="bf16-mixed",
                logger=False,
                callbacks=[writer],
            )
            assert trainer.precision == "32-true"
            # The writer stays first: Boltz's affinity stage replaces callbacks[0].
            assert trainer.callbacks[:2] == [writer, seeding]
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(False)
    untouched = boltz.main.Trainer(
        accelerator="cpu", devices=1, precision="bf16-mixed", logger=False
    )
    assert untouched.precision == "bf16-mixed"
    assert not torch.are_deterministic_algorithms_enabled()


def batch(*record_ids: str) -> dict:
    return {"record": [SimpleNamespace(id=record_id) for record_id in record_ids]}


def test_a_batch_boltz_skipped_is_named(capsys):
    report = SkippedTargetReport()
    structure_model = SimpleNamespace(affinity_prediction=False)
    report.on_predict_batch_end(None, structure_model, {"exception": False}, batch("t1"), 0)
    assert capsys.readouterr().out == ""
    report.on_predict_batch_end(None, structure_model, {"exception": True}, batch("t2"), 1)
    affinity_model = SimpleNamespace(affinity_prediction=True)
    report.on_predict_batch_end(None, affinity_model, {"exception": True}, batch("t3"), 0)
    assert capsys.readouterr().out.splitlines() == [
        "Boltz skipped t2 in the structure stage: it ran out of memory "
        "('| WARNING: ran out of memory, skipping batch')",
        "Boltz skipped t3 in the affinity stage: it ran out of memory "
        "('| WARNING: ran out of memory, skipping batch')",
    ]


def test_the_out_of_memory_fault_needs_the_test_weights(tmp_path, monkeypatch):
    arguments = ["predict", "inputs", "--cache", str(tmp_path)]
    assert injected_out_of_memory(arguments) == frozenset()
    monkeypatch.setenv(OUT_OF_MEMORY_VARIABLE, "t1,t2")
    with pytest.raises(UsageError, match="not a generated test cache"):
        injected_out_of_memory(arguments)
    (tmp_path / TEST_WEIGHTS_MARKER).write_text("{}")
    assert injected_out_of_memory(arguments) == {"t1", "t2"}


def test_the_out_of_memory_fault_raises_what_boltz_catches():
    import boltz.model.models.boltz2

    model = boltz.model.models.boltz2.Boltz2
    original = model.forward
    faulty = LaunchOptions(out_of_memory=frozenset({"t2"}))
    with patched_boltz(faulty), pytest.raises(RuntimeError, match="out of memory"):
        model.forward(None, batch("t2"))
    assert model.forward is original
