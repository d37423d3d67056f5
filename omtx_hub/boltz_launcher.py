"""Run the real, unmodified Boltz CLI with per-target seeding, optionally with another Trainer
precision and deterministic algorithms.

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

**Skipped targets are named** (always). Boltz 2.2.1 catches a predict batch that runs out of
GPU memory (``Boltz2.predict_step`` in ``boltz/model/models/boltz2.py``), prints
``| WARNING: ran out of memory, skipping batch`` without saying which target it was, and its
writers skip the batch (``BoltzWriter.write_on_batch_end``, ``boltz/data/write/writer.py``).
The launcher prints a line naming the record after each such batch, so that the shard job
reports the failure on the right target (``omtx_hub.failures``).

**A test fault** (only with a generated test cache). ``OMTX_TEST_OUT_OF_MEMORY``, a
comma-separated list of record ids, makes the model raise CUDA's out-of-memory error on those
records, which real Boltz then handles as above: no CPU test can run out of GPU memory. The
launcher refuses the variable unless ``--cache`` is a generated random-weights cache (it holds
``OMTX_TEST_WEIGHTS.json``, ``omtx_hub.testing.testcache``), so it can never fail a real screen.

The featuriser's own choices draw from ``np.random.default_rng(42)`` per item (same method) and
need nothing. Without ``--seed`` Boltz does not seed and neither does the launcher.

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
import hashlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytorch_lightning import Callback

from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER, is_test_cache

__all__ = [
    "PRECISIONS",
    "LaunchOptions",
    "PerTargetSeeding",
    "SkippedTargetReport",
    "conformer_seed",
    "main",
    "patched_boltz",
    "split_options",
    "target_seed",
]

#: The test fault's variable: record ids that run out of memory (generated test caches only).
OUT_OF_MEMORY_VARIABLE = "OMTX_TEST_OUT_OF_MEMORY"

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
    """The launcher's own options. ``precision`` None keeps Boltz's own; ``out_of_memory``:
    the record ids of the test fault."""

    precision: int | str | None = None
    deterministic: bool = False
    out_of_memory: frozenset[str] = frozenset()


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


def injected_out_of_memory(boltz_args: Sequence[str]) -> frozenset[str]:
    """The record ids ``OMTX_TEST_OUT_OF_MEMORY`` names, if any; refused unless Boltz's
    ``--cache`` is a generated test cache."""
    named = os.environ.get(OUT_OF_MEMORY_VARIABLE, "")
    if not named:
        return frozenset()
    arguments = list(boltz_args)
    cache = arguments[arguments.index("--cache") + 1] if "--cache" in arguments[:-1] else None
    if cache is None or not is_test_cache(cache):
        raise UsageError(
            f"{OUT_OF_MEMORY_VARIABLE} is set, but --cache is not a generated test cache "
            f"(no {TEST_WEIGHTS_MARKER}): the test fault is only for the test weights; unset it"
        )
    return frozenset(named.split(","))


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


class SkippedTargetReport(Callback):
    """Prints which record a predict batch that Boltz skipped (out of memory) was."""

    def on_predict_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not (isinstance(outputs, dict) and outputs.get("exception")):
            return
        stage = "affinity" if getattr(pl_module, "affinity_prediction", False) else "structure"
        for record in batch["record"]:
            print(
                f"Boltz skipped {record.id} in the {stage} stage: it ran out of memory "
                "('| WARNING: ran out of memory, skipping batch')",
                flush=True,
            )


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
    """Within the block, ``boltz.main.predict`` seeds per target and creates its Trainers
    with ``options``; yields the seeding callback."""
    import boltz.data.module.inferencev2
    import boltz.data.parse.schema
    import boltz.main
    import boltz.model.models.boltz2

    seeding = PerTargetSeeding(disable_kernels=options.deterministic)
    original_trainer = boltz.main.Trainer

    @functools.wraps(original_trainer)
    def trainer(*args: Any, **kwargs: Any) -> Any:
        if options.precision is not None:
            kwargs["precision"] = options.precision
        if options.deterministic:
            kwargs["deterministic"] = "warn"
        # Appended: Boltz's affinity stage replaces callbacks[0] (its writer) in place.
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), seeding, SkippedTargetReport()]
        return original_trainer(*args, **kwargs)

    schema = boltz.data.parse.schema
    dataset = boltz.data.module.inferencev2.PredictionDataset
    model = boltz.model.models.boltz2.Boltz2
    forward = model.forward
    if options.out_of_memory:
        forward = _running_out_of_memory(forward, options.out_of_memory)
    with (
        _replaced(model, "forward", forward),
        _replaced(boltz.main, "Trainer", trainer),
        _replaced(boltz.main, "seed_everything", seeding.remember_seed(boltz.main.seed_everything)),
        _replaced(
            schema, "compute_3d_conformer", seeding.seeded_conformers(schema.compute_3d_conformer)
        ),
        _replaced(dataset, "__getitem__", seeding.seeded_features(dataset.__getitem__)),
    ):
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
        options = dataclasses.replace(options, out_of_memory=injected_out_of_memory(boltz_args))
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
