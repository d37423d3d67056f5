"""Run the real, unmodified Boltz CLI with per-target seeding and each record's failures
isolated, optionally with another Trainer precision and deterministic algorithms.

Usage::

    python -m omtx_hub.boltz_launcher [--precision 32|bf16-mixed] [--deterministic] \
        predict <boltz predict args>

The arguments after the launcher's own options are exactly those of the ``boltz`` console
script (``boltz.main:cli``), with the same output and exit code. No Boltz source is modified;
the launcher replaces a few names that ``boltz.main.predict`` looks up at call time:

**Per-target seeding** (always). Boltz 2.2.1 seeds once per process (``seed_everything(seed)``
in ``boltz/main.py``, ``predict``) and then draws from the global RNGs target after target, so a
target's result would depend on the targets handled before it in the same process:
every diffusion noise (``torch.randn`` in ``boltz/model/modules/diffusionv2.py``, ``sample``)
and, while featurising, the random roto-translation of each reference conformer
(``center_random_augmentation`` in ``process_atom_features``,
``boltz/data/feature/featurizerv2.py``; it applies to residues with resolved coordinates, so to
the predicted structure the affinity stage reads). The data loader featurises the next record
while the current one is predicted, and in its worker processes when ``--num_workers`` > 0.
When Boltz seeds the process (``--seed``), the launcher remembers that seed and, from (seed,
record id),

- reseeds torch, numpy and ``random`` before each record is featurised
  (``PredictionDataset.__getitem__``, ``boltz/data/module/inferencev2.py``; the data loader's
  worker processes are forked and inherit the replaced method);
- reseeds them again at the start of every predict batch, in the structure and in the affinity
  stage (both data loaders use ``batch_size=1``, so a batch is one record, whose id is derived
  from the target key);
- embeds each ligand's reference conformer with an ETKDGv3 seed derived from (seed, molecule).
  Boltz's ``compute_3d_conformer`` (``boltz/data/parse/schema.py``) leaves ``randomSeed`` at -1,
  so the conformer would depend on what the preprocessing worker (a ``multiprocessing.Pool``
  of ``--preprocessing-threads`` in ``process_inputs``) embedded before. The pool's workers are
  forked (Linux default) and so inherit the replaced function.

The featuriser's own choices draw from ``np.random.default_rng(42)`` per item (same method) and
need nothing. Without ``--seed`` Boltz does not seed and neither does the launcher.

**One record's failure is its own** (always). Boltz 2.2.1 isolates a record only in
preprocessing (``process_input`` in ``boltz/main.py``: ``Failed to process <input>``) and,
partly, in featurisation; anywhere else an exception on one record ends the whole
``boltz predict`` with exit code 1, and the records after it are never predicted. The
launcher isolates each record at every step between the model's load and the process's end,
in both stages (structure, with confidence; affinity):

- **input** (``PredictionDataset.__getitem__``, ``boltz/data/module/inferencev2.py``):
  ``load_input`` is outside Boltz's ``try`` blocks (the affinity stage loads the record's
  ``pre_affinity_<id>.npz``, which a record whose structure failed does not have), and where
  Boltz does catch (``Tokenizer failed on <id>``, ``Cropper failed on``, ``Molecule loading
  failed for``, ``Featurizer failed on``) it returns record 0's features in the failed
  record's place (``return self.__getitem__(0)``): record 0 is predicted and written again,
  and when record 0 is the one that fails, the recursion never ends. The launcher returns
  the failed record alone instead, which the next steps pass over without running the model
  (after Boltz's own line, or its own for an exception Boltz did not catch).
- **transfer** to the device (``Boltz2InferenceDataModule.transfer_batch_to_device``).
- **model** (``Boltz2.predict_step``, ``boltz/model/models/boltz2.py``: trunk, diffusion,
  confidence, the affinity heads). Boltz catches only running out of GPU memory, prints
  ``| WARNING: ran out of memory, skipping batch`` without naming the record and returns
  ``{"exception": True}``, which its writers skip; the launcher does the same for any
  exception.
- **writer** (``BoltzWriter.write_on_batch_end`` and ``BoltzAffinityWriter``'s,
  ``boltz/data/write/writer.py``): e.g. the mmCIF writer raises ``ValueError`` on a ligand
  with no atom. A record's files are written to a directory beside ``predictions`` and moved
  into ``predictions/<id>`` only when its writer has finished, so a record never has part of
  its files there (``omtx_hub.boltz_io.completed_outputs`` would take a structure and
  confidence written before the error for a result).

Each failure prints one line naming the record (a record that failed in the structure stage
is passed over silently in the affinity stage)::

    Boltz failed on <id> in the <stage> stage (<step>): <ErrorType>: <message on one line>
    Boltz skipped <id> in the <stage> stage: it ran out of memory ('| WARNING: ...')

from which the shard job reports the failure on the right target, with Boltz's message, and
``omtx_hub.failures.failure_kind`` tells permanent from retryable. Boltz then exits 0 with
the other records predicted. A process that dies outright (a signal, an error outside any
record) still exits non-zero.

**Test faults** (only with a generated test cache). No CPU test can run out of GPU memory,
and planning refuses the molecules Boltz's writer raises on, so two variables make real
Boltz fail on chosen records: ``OMTX_TEST_OUT_OF_MEMORY``, a comma-separated list of record
ids, makes the model raise CUDA's out-of-memory error on them, which real Boltz then handles
as above; ``OMTX_TEST_WRITER_ERROR``, a comma-separated list of ``<stage>:<record id>``
(stage ``structure`` or ``affinity``), makes that stage's writer raise ``ValueError`` after
writing the record's files. The launcher refuses either variable unless ``--cache`` is a
generated random-weights cache (it holds ``OMTX_TEST_WEIGHTS.json``,
``omtx_hub.testing.testcache``), so they can never fail a real screen.

**--precision** replaces the ``precision`` argument of the ``pytorch_lightning.Trainer`` that
``boltz.main.predict`` creates. Boltz 2.2.1 hard-codes it
(``precision=32 if model == "boltz1" else "bf16-mixed"``). bf16 autocast is the right choice on
GPUs, but on CPUs without native bf16 arithmetic (no AVX512-BF16/AMX, e.g. AVX2-only CI runners)
every bf16 matmul is emulated: one Pairformer block at 33 tokens takes about 75 ms in bf16
against about 11 ms in fp32, and a whole CPU prediction is 2-4x slower. ``--precision 32``
therefore makes CPU runs (tests, CI) fast; it also changes the numbers slightly, so results
computed with different precisions must not be mixed.

**--deterministic** creates the Trainer with ``deterministic="warn"``: Lightning then calls
``torch.use_deterministic_algorithms(True, warn_only=True)`` and sets
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (``_set_torch_flags`` in
``pytorch_lightning/trainer/connectors/accelerator_connector.py``), so every torch operation
that has a deterministic CUDA implementation uses it and any that has none is named by a
warning in the log. It also switches the cuequivariance kernels off in both stages (torch
cannot vouch for them): ``--no_kernels`` alone does not reach the affinity model, which Boltz
loads without ``use_kernels`` and so with the value saved in its checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytorch_lightning import Callback

from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER, is_test_cache

__all__ = [
    "PRECISIONS",
    "LaunchOptions",
    "PerTargetSeeding",
    "RecordIsolation",
    "conformer_seed",
    "failure_line",
    "injected_out_of_memory",
    "injected_writer_errors",
    "main",
    "out_of_memory_line",
    "patched_boltz",
    "split_options",
    "target_seed",
]

#: The test faults' variables (generated test caches only): record ids that run out of
#: memory; '<stage>:<record id>' whose writer raises.
OUT_OF_MEMORY_VARIABLE = "OMTX_TEST_OUT_OF_MEMORY"
WRITER_ERROR_VARIABLE = "OMTX_TEST_WRITER_ERROR"

#: Boltz's two prediction stages, as the launcher's lines name them.
STAGES = ("structure", "affinity")

#: Accepted ``--precision`` values (Lightning precision names) and what is passed to Trainer.
PRECISIONS: dict[str, int | str] = {"32": 32, "bf16-mixed": "bf16-mixed"}

_USAGE = (
    "usage: python -m omtx_hub.boltz_launcher [--precision {32,bf16-mixed}] [--deterministic] "
    "<boltz command> [ARGS]..."
)

# numpy's legacy seeding, and so Lightning's seed_everything, accept 0 .. 2**32 - 1;
# RDKit's randomSeed is a signed 32-bit int where -1 means "unseeded".
_TARGET_SEED_BYTES = 4
_CONFORMER_SEED_MODULUS = 2**31


class UsageError(ValueError):
    """Bad launcher arguments (before the Boltz command)."""


@dataclass(frozen=True)
class LaunchOptions:
    """The launcher's own options. ``precision`` None keeps Boltz's own; ``out_of_memory``
    and ``writer_errors`` (stage, record id): the test faults."""

    precision: int | str | None = None
    deterministic: bool = False
    out_of_memory: frozenset[str] = frozenset()
    writer_errors: frozenset[tuple[str, str]] = frozenset()


def split_options(argv: Sequence[str]) -> tuple[LaunchOptions, list[str]]:
    """Split ``[--precision P] [--deterministic] rest...`` into (options, boltz arguments).

    Only leading launcher options are ours; everything from the first other argument on is
    passed to Boltz untouched (so Boltz options are never misparsed).
    """
    args = list(argv)
    precision: int | str | None = None
    deterministic = False
    while args:
        if args[0] == "--deterministic":
            deterministic, args = True, args[1:]
        elif args[0] == "--precision" or args[0].startswith("--precision="):
            if "=" in args[0]:
                value, args = args[0].split("=", 1)[1], args[1:]
            elif len(args) > 1:
                value, args = args[1], args[2:]
            else:
                raise UsageError("--precision needs a value")
            if value not in PRECISIONS:
                choices = ", ".join(PRECISIONS)
                raise UsageError(f"invalid --precision {value!r}; choose from {choices}")
            precision = PRECISIONS[value]
        else:
            break
    return LaunchOptions(precision, deterministic), args


def _test_fault(variable: str, boltz_args: Sequence[str]) -> list[str]:
    """The comma-separated items of a test fault's variable; refused unless Boltz's
    ``--cache`` is a generated test cache."""
    named = os.environ.get(variable, "")
    if not named:
        return []
    arguments = list(boltz_args)
    cache = arguments[arguments.index("--cache") + 1] if "--cache" in arguments[:-1] else None
    if cache is None or not is_test_cache(cache):
        raise UsageError(
            f"{variable} is set, but --cache is not a generated test cache "
            f"(no {TEST_WEIGHTS_MARKER}): the test fault is only for the test weights; unset it"
        )
    return named.split(",")


def injected_out_of_memory(boltz_args: Sequence[str]) -> frozenset[str]:
    """The record ids ``OMTX_TEST_OUT_OF_MEMORY`` names, if any."""
    return frozenset(_test_fault(OUT_OF_MEMORY_VARIABLE, boltz_args))


def injected_writer_errors(boltz_args: Sequence[str]) -> frozenset[tuple[str, str]]:
    """The (stage, record id) pairs ``OMTX_TEST_WRITER_ERROR`` names, if any."""
    pairs = set()
    for item in _test_fault(WRITER_ERROR_VARIABLE, boltz_args):
        stage, _, record_id = item.partition(":")
        if stage not in STAGES or not record_id:
            raise UsageError(
                f"{WRITER_ERROR_VARIABLE}: {item!r} is not '<stage>:<record id>' with stage "
                f"{' or '.join(STAGES)}"
            )
        pairs.add((stage, record_id))
    return frozenset(pairs)


def target_seed(base_seed: int, record_id: str, step: str) -> int:
    """The seed of one step ('features' or 'predict') of one record: a function of Boltz's
    --seed and the record id. The steps get different seeds so that their draws differ."""
    digest = hashlib.sha256(f"{base_seed}:{record_id}:{step}".encode()).digest()
    return int.from_bytes(digest[:_TARGET_SEED_BYTES], "big")


def _seed_all(seed: int) -> None:
    from lightning_fabric.utilities.seed import seed_everything

    seed_everything(seed, verbose=False)


def conformer_seed(base_seed: int, molecule: Any) -> int:
    """The ETKDG seed of a molecule's reference conformer: a function of Boltz's --seed and
    the molecule's canonical SMILES (hydrogens included, as Boltz embeds it)."""
    from rdkit import Chem

    smiles = Chem.MolToSmiles(molecule)
    digest = hashlib.sha256(f"{base_seed}:{smiles}".encode()).digest()
    return int.from_bytes(digest, "big") % _CONFORMER_SEED_MODULUS


@contextlib.contextmanager
def _replaced(namespace: Any, name: str, value: Any) -> Iterator[Any]:
    """Within the block, ``namespace.name`` is ``value``; yields the original."""
    original = getattr(namespace, name)
    setattr(namespace, name, value)
    try:
        yield original
    finally:
        setattr(namespace, name, original)


class PerTargetSeeding(Callback):
    """Makes each target's prediction depend on Boltz's seed and the target alone.

    ``base_seed`` is the seed Boltz seeded its process with (None: Boltz did not seed, and
    nothing is reseeded). ``disable_kernels`` switches the cuequivariance kernels off in
    every model that predicts (``--deterministic``).
    """

    def __init__(self, *, disable_kernels: bool = False) -> None:
        self.base_seed: int | None = None
        self.disable_kernels = disable_kernels

    def remember_seed(self, seed_everything: Any) -> Any:
        """Wrap Boltz's ``seed_everything`` so that the seed it sets is remembered."""

        @functools.wraps(seed_everything)
        def seed_process(*args: Any, **kwargs: Any) -> int:
            self.base_seed = seed_everything(*args, **kwargs)
            return self.base_seed

        return seed_process

    def seeded_conformers(self, compute_3d_conformer: Any) -> Any:
        """Wrap Boltz's ``compute_3d_conformer`` so that ETKDGv3 is seeded per molecule."""
        from rdkit.Chem import AllChem

        @functools.wraps(compute_3d_conformer)
        def compute_seeded(mol: Any, version: str = "v3") -> bool:
            if self.base_seed is None:
                return compute_3d_conformer(mol, version)
            seed = conformer_seed(self.base_seed, mol)
            etkdg_v3 = AllChem.ETKDGv3

            def seeded_etkdg_v3() -> Any:
                parameters = etkdg_v3()
                parameters.randomSeed = seed
                return parameters

            # Boltz builds the parameters inside the function (`AllChem.ETKDGv3()`), so the
            # factory is swapped for the duration of the call. Preprocessing runs one molecule
            # at a time per process (sequentially or in a process pool), never in threads.
            with _replaced(AllChem, "ETKDGv3", seeded_etkdg_v3):
                return compute_3d_conformer(mol, version)

        return compute_seeded

    def seeded_features(self, get_item: Any) -> Any:
        """Wrap Boltz's ``PredictionDataset.__getitem__`` so that each record is featurised
        from its own seed."""

        @functools.wraps(get_item)
        def get_seeded_item(dataset: Any, index: int) -> dict:
            if self.base_seed is not None:
                record_id = dataset.manifest.records[index].id
                _seed_all(target_seed(self.base_seed, record_id, "features"))
            return get_item(dataset, index)

        return get_seeded_item

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        if self.disable_kernels:
            pl_module.use_kernels = False

    def on_predict_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.base_seed is None:
            return
        records = batch["record"]
        if len(records) != 1:
            raise RuntimeError(
                f"per-target seeding needs one record per predict batch, got {len(records)}; "
                "this Boltz version batches differently from boltz 2.2.1"
            )
        _seed_all(target_seed(self.base_seed, records[0].id, "predict"))


#: A record that failed in an earlier step, in place of its features: the steps after it
#: pass it over (collated and moved to the device as it is: "record" is never stacked).
_FAILED_ITEM_KEYS = frozenset({"record"})

# The longest error message a failure line quotes (a message can list a whole structure).
_MAX_MESSAGE_CHARACTERS = 1000


class _SubstitutedRecord(Exception):
    """Boltz's dataset asked for record 0 in place of a record it could not featurise."""


def failure_line(record_id: str, stage: str, step: str, error: BaseException) -> str:
    """The line that reports `error` on one record, on one line (omtx_hub.failures reads it)."""
    message = " ".join(str(error).split())[:_MAX_MESSAGE_CHARACTERS]
    error_type = type(error).__name__
    return f"Boltz failed on {record_id} in the {stage} stage ({step}): {error_type}: {message}"


def out_of_memory_line(record_id: str, stage: str) -> str:
    """The line that names a record Boltz skipped because it ran out of GPU memory."""
    return (
        f"Boltz skipped {record_id} in the {stage} stage: it ran out of memory "
        "('| WARNING: ran out of memory, skipping batch')"
    )


def _print_line(line: str) -> None:
    """Print `line` on a line of its own: Lightning's progress bar, on the same log, redraws
    itself after a carriage return and leaves its last state with no line break."""
    print(f"\n{line}", flush=True)


def _failed_item(batch: dict) -> bool:
    return batch.keys() == _FAILED_ITEM_KEYS


def _release_memory() -> None:
    """What Boltz does after running out of memory (``Boltz2.predict_step``)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _publish(written: Path, published: Path) -> None:
    """Move the files a writer wrote for one record into its predictions directory, each
    whole (a rename): the shard job never sees part of a record's files."""
    if not written.is_dir():
        return
    published.mkdir(exist_ok=True)
    for path in sorted(written.iterdir()):
        os.replace(path, published / path.name)


class RecordIsolation:
    """Keeps an exception on one record from ending ``boltz predict``: the record is reported
    (one line, ``failure_line``) and passed over by every later step and stage, and the
    other records are predicted (module docstring, "One record's failure is its own")."""

    def __init__(self) -> None:
        # Records that failed in this process, passed over silently in the affinity stage.
        # The data loader's worker processes are forked per stage, after the structure stage,
        # and inherit it.
        self.failed: set[str] = set()
        self._loading = False

    def _report(self, records: Sequence[Any], stage: str, step: str, error: Exception) -> None:
        for record in records:
            self.failed.add(record.id)
            _print_line(failure_line(record.id, stage, step, error))

    def items(self, get_item: Any) -> Any:
        """Wrap ``PredictionDataset.__getitem__``: a record that cannot be loaded, tokenised,
        cropped or featurised is returned alone (``_FAILED_ITEM_KEYS``)."""

        @functools.wraps(get_item)
        def get_isolated_item(dataset: Any, index: int) -> dict:
            record = dataset.manifest.records[index]
            if self._loading:
                # Boltz caught an error on the record being loaded, printed its line, and
                # calls __getitem__(0) for a substitute: stop it there.
                raise _SubstitutedRecord
            stage = STAGES[1] if dataset.affinity else STAGES[0]
            if stage == "affinity" and record.id in self.failed:
                return {"record": record}  # its structure failed, reported then
            self._loading = True
            try:
                return get_item(dataset, index)
            except _SubstitutedRecord:
                return {"record": record}
            except Exception as error:
                self._report([record], stage, "input", error)
                return {"record": record}
            finally:
                self._loading = False

        return get_isolated_item

    def transfers(self, transfer: Any) -> Any:
        """Wrap ``Boltz2InferenceDataModule.transfer_batch_to_device``."""

        @functools.wraps(transfer)
        def transfer_isolated(data_module: Any, batch: dict, device: Any, index: int) -> dict:
            try:
                return transfer(data_module, batch, device, index)
            except Exception as error:
                stage = STAGES[1] if data_module.affinity else STAGES[0]
                self._report(batch["record"], stage, "transfer", error)
                _release_memory()
                return {"record": batch["record"]}

        return transfer_isolated

    def predictions(self, predict_step: Any) -> Any:
        """Wrap ``Boltz2.predict_step``: an exception becomes Boltz's own skipped batch."""

        @functools.wraps(predict_step)
        def predict_isolated(model: Any, batch: dict, *args: Any, **kwargs: Any) -> dict:
            records = batch["record"]
            stage = STAGES[1] if model.affinity_prediction else STAGES[0]
            if _failed_item(batch):
                self.failed.update(record.id for record in records)
                return {"exception": True}
            try:
                prediction = predict_step(model, batch, *args, **kwargs)
            except Exception as error:
                self._report(records, stage, "model", error)
                _release_memory()
                return {"exception": True}
            if prediction.get("exception"):  # Boltz ran out of memory and said so, unnamed
                for record in records:
                    self.failed.add(record.id)
                    _print_line(out_of_memory_line(record.id, stage))
            return prediction

        return predict_isolated

    def writes(self, write_on_batch_end: Any, stage: str) -> Any:
        """Wrap a writer's ``write_on_batch_end``: it writes beside ``predictions`` and the
        record's files are moved there when it has finished (``_publish``)."""

        @functools.wraps(write_on_batch_end)
        def write_isolated(
            writer: Any,
            trainer: Any,
            module: Any,
            prediction: dict,
            indices: Any,
            batch: dict,
            *position: int,
        ) -> None:
            arguments = (trainer, module, prediction, indices, batch, *position)
            if prediction["exception"]:
                return write_on_batch_end(writer, *arguments)
            published = writer.output_dir
            with tempfile.TemporaryDirectory(prefix=".writing-", dir=published.parent) as work:
                writer.output_dir = Path(work)
                try:
                    write_on_batch_end(writer, *arguments)
                except Exception as error:
                    writer.failed += 1  # Boltz's count of failed examples
                    self._report(batch["record"], stage, "writer", error)
                    return None
                finally:
                    writer.output_dir = published
                for record in batch["record"]:
                    _publish(Path(work) / record.id, published / record.id)
            return None

        return write_isolated


def _raising_after_writing(write_on_batch_end: Any, stage: str, faults: frozenset) -> Any:
    """Wrap a writer's ``write_on_batch_end`` so that it raises ``ValueError`` on the records
    `faults` names for `stage`, after writing their files (the test fault)."""

    @functools.wraps(write_on_batch_end)
    def write_then_raise(
        writer: Any,
        trainer: Any,
        module: Any,
        prediction: dict,
        indices: Any,
        batch: dict,
        *position: int,
    ) -> None:
        write_on_batch_end(writer, trainer, module, prediction, indices, batch, *position)
        if any((stage, record.id) in faults for record in batch["record"]):
            raise ValueError(f"test fault after writing: {WRITER_ERROR_VARIABLE}")

    return write_then_raise


def _running_out_of_memory(forward: Any, record_ids: frozenset[str]) -> Any:
    """Wrap ``Boltz2.forward`` so that it raises CUDA's out-of-memory error on `record_ids`."""

    @functools.wraps(forward)
    def forward_or_out_of_memory(model: Any, feats: dict, *args: Any, **kwargs: Any) -> Any:
        if any(record.id in record_ids for record in feats["record"]):
            raise RuntimeError(
                f"CUDA out of memory. Tried to allocate 80.00 GiB (test fault: "
                f"{OUT_OF_MEMORY_VARIABLE})"
            )
        return forward(model, feats, *args, **kwargs)

    return forward_or_out_of_memory


@contextlib.contextmanager
def patched_boltz(options: LaunchOptions) -> Iterator[PerTargetSeeding]:
    """Within the block, ``boltz.main.predict`` seeds per target, isolates each record's
    failures and creates its Trainers with ``options``; yields the seeding callback."""
    import boltz.data.module.inferencev2
    import boltz.data.parse.schema
    import boltz.data.write.writer
    import boltz.main
    import boltz.model.models.boltz2

    seeding = PerTargetSeeding(disable_kernels=options.deterministic)
    isolation = RecordIsolation()
    original_trainer = boltz.main.Trainer

    @functools.wraps(original_trainer)
    def trainer(*args: Any, **kwargs: Any) -> Any:
        if options.precision is not None:
            kwargs["precision"] = options.precision
        if options.deterministic:
            kwargs["deterministic"] = "warn"
        # Appended: Boltz's affinity stage replaces callbacks[0] (its writer) in place.
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), seeding]
        return original_trainer(*args, **kwargs)

    schema = boltz.data.parse.schema
    inference = boltz.data.module.inferencev2
    model = boltz.model.models.boltz2.Boltz2
    forward = model.forward
    if options.out_of_memory:
        forward = _running_out_of_memory(forward, options.out_of_memory)
    writers = {
        "structure": boltz.data.write.writer.BoltzWriter,
        "affinity": boltz.data.write.writer.BoltzAffinityWriter,
    }
    with contextlib.ExitStack() as patches:
        for stage, writer in writers.items():
            write = writer.write_on_batch_end
            if options.writer_errors:
                write = _raising_after_writing(write, stage, options.writer_errors)
            patches.enter_context(
                _replaced(writer, "write_on_batch_end", isolation.writes(write, stage))
            )
        # The dataset's wrappers nest: isolation outermost, so that Boltz's own call for a
        # substitute record (`self.__getitem__(0)`) reaches it first.
        items = isolation.items(seeding.seeded_features(inference.PredictionDataset.__getitem__))
        data_module = inference.Boltz2InferenceDataModule
        for namespace, name, value in (
            (model, "forward", forward),
            (model, "predict_step", isolation.predictions(model.predict_step)),
            (inference.PredictionDataset, "__getitem__", items),
            (data_module, "transfer_batch_to_device",
             isolation.transfers(data_module.transfer_batch_to_device)),
            (boltz.main, "Trainer", trainer),
            (boltz.main, "seed_everything", seeding.remember_seed(boltz.main.seed_everything)),
            (schema, "compute_3d_conformer",
             seeding.seeded_conformers(schema.compute_3d_conformer)),
        ):  # fmt: skip
            patches.enter_context(_replaced(namespace, name, value))
        yield seeding


def _exit_code(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``boltz`` with ``argv`` (default: sys.argv[1:]); return Boltz's exit code."""
    try:
        options, boltz_args = split_options(sys.argv[1:] if argv is None else argv)
        options = dataclasses.replace(
            options,
            out_of_memory=injected_out_of_memory(boltz_args),
            writer_errors=injected_writer_errors(boltz_args),
        )
    except UsageError as error:
        print(f"{_USAGE}\nerror: {error}", file=sys.stderr)
        return 2

    from boltz.main import cli

    with patched_boltz(options):
        try:
            # standalone_mode (click's default, as in the console script): click handles
            # --help, usage errors and Abort itself and always ends with SystemExit.
            cli.main(args=boltz_args, prog_name="boltz")
        except SystemExit as error:
            return _exit_code(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
