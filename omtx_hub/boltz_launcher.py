"""Run the real, unmodified Boltz CLI, optionally with a different Trainer precision.

Usage::

    python -m omtx_hub.boltz_launcher [--precision 32|bf16-mixed] predict <boltz predict args>

Without ``--precision`` this is exactly the ``boltz`` console script (``boltz.main:cli``): same
arguments, same output, same exit code.

With ``--precision``, the one thing that changes is the ``precision`` argument of the
``pytorch_lightning.Trainer`` that ``boltz.main.predict`` creates. boltz 2.2.1 hard-codes it
(``precision=32 if model == "boltz1" else "bf16-mixed"``) and offers no option. bf16 autocast is
the right choice on GPUs, but on CPUs without native bf16 arithmetic (no AVX512-BF16/AMX, e.g.
AVX2-only CI runners) every bf16 matmul is emulated: one Pairformer block at 33 tokens takes
about 75 ms in bf16 against about 11 ms in fp32, and a whole CPU prediction is 2-4x slower.
``--precision 32`` therefore makes CPU runs (tests, CI) fast; it also changes the numbers
slightly, so results computed with different precisions must not be mixed.

The change is made by replacing the name ``boltz.main.Trainer`` (which ``predict`` looks up at
call time) with a wrapper that overrides the ``precision`` keyword and forwards everything else
to the real Trainer. No Boltz source is modified.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["PRECISIONS", "main", "override_trainer_precision", "split_precision"]

#: Accepted ``--precision`` values (Lightning precision names) and what is passed to Trainer.
PRECISIONS: dict[str, int | str] = {"32": 32, "bf16-mixed": "bf16-mixed"}

_USAGE = (
    "usage: python -m omtx_hub.boltz_launcher [--precision {32,bf16-mixed}] "
    "<boltz command> [ARGS]..."
)


class UsageError(ValueError):
    """Bad launcher arguments (before the Boltz command)."""


def split_precision(argv: Sequence[str]) -> tuple[int | str | None, list[str]]:
    """Split ``[--precision P] rest...`` into (Trainer precision or None, boltz arguments).

    Only a leading ``--precision P`` / ``--precision=P`` is ours; everything from the first
    other argument on is passed to Boltz untouched (so Boltz options are never misparsed).
    """
    args = list(argv)
    precision: int | str | None = None
    if args and (args[0] == "--precision" or args[0].startswith("--precision=")):
        if "=" in args[0]:
            value, rest = args[0].split("=", 1)[1], args[1:]
        elif len(args) > 1:
            value, rest = args[1], args[2:]
        else:
            raise UsageError("--precision needs a value")
        if value not in PRECISIONS:
            raise UsageError(f"invalid --precision {value!r}; choose from {', '.join(PRECISIONS)}")
        precision, args = PRECISIONS[value], rest
    return precision, args


@contextlib.contextmanager
def override_trainer_precision(precision: int | str) -> Iterator[None]:
    """Within the block, Trainers created by ``boltz.main`` get ``precision=precision``."""
    import boltz.main

    original = boltz.main.Trainer

    @functools.wraps(original)
    def trainer(*args: Any, **kwargs: Any) -> Any:
        kwargs["precision"] = precision
        return original(*args, **kwargs)

    boltz.main.Trainer = trainer
    try:
        yield
    finally:
        boltz.main.Trainer = original


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
        precision, boltz_args = split_precision(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{_USAGE}\nerror: {error}", file=sys.stderr)
        return 2

    from boltz.main import cli

    context = (
        override_trainer_precision(precision) if precision is not None else contextlib.nullcontext()
    )
    with context:
        try:
            # standalone_mode (click's default, as in the console script): click handles
            # --help, usage errors and Abort itself and always ends with SystemExit.
            cli.main(args=boltz_args, prog_name="boltz")
        except SystemExit as error:
            return _exit_code(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
