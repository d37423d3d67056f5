"""The launcher's pieces: option parsing, seed derivation, per-target reseeding, seeded
conformers, the Trainer it makes Boltz create, the isolation of each record's failures and
the test faults (no prediction runs here: tests/workflow/test_failures.py runs them)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pytorch_lightning import Callback
from rdkit import Chem

from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER
from omtx_hub.boltz_launcher import (
    OUT_OF_MEMORY_VARIABLE,
    WRITER_ERROR_VARIABLE,
    LaunchOptions,
    PerTargetSeeding,
    RecordIsolation,
    UsageError,
    conformer_seed,
    failure_line,
    injected_out_of_memory,
    injected_writer_errors,
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
    import boltz.data.write.writer
    import boltz.main
    import boltz.model.models.boltz2

    def names() -> tuple:
        inference = boltz.data.module.inferencev2
        return (
            boltz.main.Trainer,
            boltz.main.seed_everything,
            boltz.data.parse.schema.compute_3d_conformer,
            inference.PredictionDataset.__getitem__,
            inference.Boltz2InferenceDataModule.transfer_batch_to_device,
            boltz.model.models.boltz2.Boltz2.forward,
            boltz.model.models.boltz2.Boltz2.predict_step,
            boltz.data.write.writer.BoltzWriter.write_on_batch_end,
            boltz.data.write.writer.BoltzAffinityWriter.write_on_batch_end,
        )

    originals = names()
    faults = LaunchOptions(
        precision=32,
        out_of_memory=frozenset({"t1"}),
        writer_errors=frozenset({("structure", "t1")}),
    )
    with patched_boltz(faults) as seeding:
        assert boltz.main.seed_everything(5) == 5
        assert seeding.base_seed == 5
        assert all(
            patched is not original for patched, original in zip(names(), originals, strict=True)
        )
    assert names() == originals


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


def printed_lines(capsys) -> list[str]:
    """The lines printed since the last call, blank ones left out."""
    return [line for line in capsys.readouterr().out.splitlines() if line]


def record(record_id: str) -> SimpleNamespace:
    return SimpleNamespace(id=record_id)


STRUCTURE_MODEL = SimpleNamespace(affinity_prediction=False)
AFFINITY_MODEL = SimpleNamespace(affinity_prediction=True)


def test_an_exception_in_the_model_is_that_record_s_failure(capsys):
    isolation = RecordIsolation()

    def predict_step(model, batch, batch_idx, dataloader_idx=0):
        if batch["record"][0].id == "t2":
            raise ValueError("no atoms\nin the ligand")
        if batch["record"][0].id == "t3":
            return {"exception": True}  # what Boltz returns after running out of memory
        return {"exception": False, "coords": batch["coords"]}

    predict = isolation.predictions(predict_step)
    assert predict(STRUCTURE_MODEL, {**batch("t1"), "coords": 1}, 0) == {
        "exception": False,
        "coords": 1,
    }
    assert capsys.readouterr().out == ""
    assert predict(STRUCTURE_MODEL, {**batch("t2"), "coords": 1}, 1) == {"exception": True}
    assert predict(AFFINITY_MODEL, {**batch("t3"), "coords": 1}, 0) == {"exception": True}
    # A record that failed before the model (its features are missing) does not reach it.
    assert predict(STRUCTURE_MODEL, batch("t4"), 2) == {"exception": True}
    assert printed_lines(capsys) == [
        "Boltz failed on t2 in the structure stage (model): ValueError: no atoms in the ligand",
        "Boltz skipped t3 in the affinity stage: it ran out of memory "
        "('| WARNING: ran out of memory, skipping batch')",
    ]
    assert isolation.failed == {"t2", "t3", "t4"}


def test_a_failure_line_is_one_bounded_line():
    line = failure_line("t1", "structure", "writer", ValueError("a\n" * 2000))
    assert "\n" not in line
    assert line.startswith("Boltz failed on t1 in the structure stage (writer): ValueError: a a")
    assert len(line) < 1100


class BoltzLikeDataset:
    """A dataset whose __getitem__ does what Boltz's does with a record it cannot featurise
    (boltz/data/module/inferencev2.py): print a line and return record 0 in its place."""

    def __init__(self, record_ids: list[str], *, fails: set[str], affinity: bool = False):
        self.manifest = SimpleNamespace(records=[record(i) for i in record_ids])
        self.fails = fails
        self.affinity = affinity
        self.loaded: list[str] = []

    def __getitem__(self, index: int) -> dict:
        current = self.manifest.records[index]
        self.loaded.append(current.id)
        if current.id == "missing":  # like load_input, outside Boltz's try blocks
            raise FileNotFoundError(f"pre_affinity_{current.id}.npz")
        try:
            if current.id in self.fails:
                raise IndexError("list index out of range")
        except Exception as error:
            print(f"Featurizer failed on {current.id} with error {error}. Skipping.")
            return self.__getitem__(0)
        return {"record": current, "features": index}


def test_a_record_that_cannot_be_featurised_is_returned_alone(capsys, monkeypatch):
    isolation = RecordIsolation()
    isolated = isolation.items(BoltzLikeDataset.__getitem__)
    monkeypatch.setattr(BoltzLikeDataset, "__getitem__", isolated)
    # Record 0 fails: Boltz's own substitution would recurse until RecursionError.
    dataset = BoltzLikeDataset(["t0", "t1", "missing"], fails={"t0"})
    assert dataset[0] == {"record": dataset.manifest.records[0]}
    assert dataset[1]["features"] == 1
    assert dataset[2] == {"record": dataset.manifest.records[2]}
    assert dataset.loaded == ["t0", "t1", "missing"]  # record 0 is not loaded again
    assert printed_lines(capsys) == [
        "Featurizer failed on t0 with error list index out of range. Skipping.",
        "Boltz failed on missing in the structure stage (input): FileNotFoundError: "
        "pre_affinity_missing.npz",
    ]
    # The affinity stage passes over a record that failed before, silently.
    isolation.failed.add("t1")
    affinity = BoltzLikeDataset(["t0", "t1"], fails=set(), affinity=True)
    assert affinity[1] == {"record": affinity.manifest.records[1]}
    assert affinity.loaded == []
    assert capsys.readouterr().out == ""


def test_a_failed_transfer_to_the_device_is_that_record_s_failure(capsys):
    def transfer(data_module, batch, device, index):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    isolated = RecordIsolation().transfers(transfer)
    moved = isolated(SimpleNamespace(affinity=False), {**batch("t1"), "x": 1}, "cuda", 0)
    assert moved == batch("t1")
    assert printed_lines(capsys) == [
        "Boltz failed on t1 in the structure stage (transfer): RuntimeError: CUDA error: an "
        "illegal memory access was encountered"
    ]


class FileWriter:
    """Writes a record's files as Boltz's writers do (output_dir / record id / files), then
    raises on the records in `fails`."""

    def __init__(self, output_dir: Path, fails: set[str]):
        self.output_dir = output_dir
        self.fails = fails
        self.failed = 0

    def write_on_batch_end(self, trainer, module, prediction, indices, batch, *position):
        if prediction["exception"]:
            self.failed += 1
            return
        for one in batch["record"]:
            directory = self.output_dir / one.id
            directory.mkdir(exist_ok=True)
            (directory / f"{one.id}_model_0.cif").write_text("data_x\n")
            (directory / f"confidence_{one.id}_model_0.json").write_text("{}")
            if one.id in self.fails:
                raise ValueError("The following Assemblies reference asym IDs ...")


def test_a_writer_that_raises_leaves_nothing_of_that_record(tmp_path, capsys):
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    writer = FileWriter(predictions, fails={"t2"})
    write = RecordIsolation().writes(FileWriter.write_on_batch_end, "structure")
    for record_id in ("t1", "t2"):
        write(writer, None, None, {"exception": False}, [0], batch(record_id), 0, 0)
    write(writer, None, None, {"exception": True}, [0], batch("t3"), 0, 0)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "predictions",
        "predictions/t1",
        "predictions/t1/confidence_t1_model_0.json",
        "predictions/t1/t1_model_0.cif",
    ]
    assert writer.output_dir == predictions
    assert writer.failed == 2  # Boltz's count: the record that raised and the skipped one
    assert printed_lines(capsys) == [
        "Boltz failed on t2 in the structure stage (writer): ValueError: The following "
        "Assemblies reference asym IDs ..."
    ]


def test_the_test_faults_need_the_test_weights(tmp_path, monkeypatch):
    arguments = ["predict", "inputs", "--cache", str(tmp_path)]
    assert injected_out_of_memory(arguments) == frozenset()
    assert injected_writer_errors(arguments) == frozenset()
    monkeypatch.setenv(OUT_OF_MEMORY_VARIABLE, "t1,t2")
    monkeypatch.setenv(WRITER_ERROR_VARIABLE, "structure:t3,affinity:t4")
    with pytest.raises(UsageError, match=f"{OUT_OF_MEMORY_VARIABLE} is set, but --cache is not"):
        injected_out_of_memory(arguments)
    with pytest.raises(UsageError, match=f"{WRITER_ERROR_VARIABLE} is set, but --cache is not"):
        injected_writer_errors(arguments)
    (tmp_path / TEST_WEIGHTS_MARKER).write_text("{}")
    assert injected_out_of_memory(arguments) == {"t1", "t2"}
    assert injected_writer_errors(arguments) == {("structure", "t3"), ("affinity", "t4")}
    monkeypatch.setenv(WRITER_ERROR_VARIABLE, "t3")
    with pytest.raises(UsageError, match="'t3' is not '<stage>:<record id>'"):
        injected_writer_errors(arguments)


def test_the_out_of_memory_fault_raises_what_boltz_catches():
    import boltz.model.models.boltz2

    model = boltz.model.models.boltz2.Boltz2
    original = model.forward
    faulty = LaunchOptions(out_of_memory=frozenset({"t2"}))
    with patched_boltz(faulty), pytest.raises(RuntimeError, match="out of memory"):
        model.forward(None, batch("t2"))
    assert model.forward is original
