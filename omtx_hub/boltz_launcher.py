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
import functools
import hashlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytorch_lightning import Callback

__all__ = [
    "PRECISIONS",
    "LaunchOptions",
    "PerTargetSeeding",
    "conformer_seed",
    "main",
    "patched_boltz",
    "split_options",
    "target_seed",
]

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
    """The launcher's own options. ``precision`` None keeps Boltz's own."""

    precision: int | str | None = None
    deterministic: bool = False


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


@contextlib.contextmanager
def patched_boltz(options: LaunchOptions) -> Iterator[PerTargetSeeding]:
    """Within the block, ``boltz.main.predict`` seeds per target and creates its Trainers
    with ``options``; yields the seeding callback."""
    import boltz.data.module.inferencev2
    import boltz.data.parse.schema
    import boltz.main

    seeding = PerTargetSeeding(disable_kernels=options.deterministic)
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
    dataset = boltz.data.module.inferencev2.PredictionDataset
    with (
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
