"""Small screens for tests: a config mapping plus its ligand sheet, written to a directory."""

from __future__ import annotations

from pathlib import Path

import yaml

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O"]
SHORT_PROTEIN = "MKTAYIAKQRQISFVKSHFS"
# Boltz settings that make a CPU prediction with the test model take seconds.
FAST_MODEL = {
    "recycling_steps": 0, "sampling_steps": 2, "diffusion_samples": 1,
    "sampling_steps_affinity": 2, "diffusion_samples_affinity": 1, "seed": 0,
}  # fmt: skip


def runtime(cache: Path) -> dict:
    """CPU, fp32, no loader workers or kernels: the test model's fast path."""
    return {"accelerator": "cpu", "precision": "32", "cache": str(cache), "num_workers": 0,
            "use_kernels": False}  # fmt: skip


def write_screen(
    directory: Path, *, rows=None, shard_size: int = 2, extra_columns: str = "", **overrides
) -> dict:
    """Write ligands.csv (rows of (name, smiles[, extra...])) and return the config mapping."""
    rows = rows if rows is not None else [(f"L{i}", s) for i, s in enumerate(SMILES)]
    sheet = directory / "ligands.csv"
    header = "name,smiles" + (f",{extra_columns}" if extra_columns else "")
    sheet.write_text(header + "\n" + "".join(",".join(row) + "\n" for row in rows))
    raw = {
        "screen": {"name": "s1"},
        "proteins": [{"name": "P1", "sequence": SHORT_PROTEIN}],
        "ligands": str(sheet),
        "sharding": {"shard_size": shard_size},
        "store": str(directory / "store"),
    }
    raw.update(overrides)
    return raw


def write_config_file(directory: Path, raw: dict, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
