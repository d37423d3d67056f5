"""The names of the files in Boltz's cache (`--cache`, runtime.cache), defined once.

Boltz 2.2.1 loads the structure model from `<cache>/boltz2_conf.ckpt` and the affinity model
from `<cache>/boltz2_aff.ckpt` unless `--checkpoint`/`--affinity_checkpoint` name others, and
reads CCD molecules from `<cache>/mols/<CODE>.pkl`, which `download_boltz2` extracts from
`mols.tar` (`predict` and `download_boltz2` in boltz/main.py; `load_molecules` in
boltz/data/mol.py). A cache this project generates with random weights for tests
(omtx_hub.testing.testcache) carries a marker file and is never taken for the released weights.
"""

from __future__ import annotations

from pathlib import Path

STRUCTURE_CHECKPOINT = "boltz2_conf.ckpt"
AFFINITY_CHECKPOINT = "boltz2_aff.ckpt"
MOLECULES_ARCHIVE = "mols.tar"
MOLECULES_DIR = "mols"
# Everything `boltz predict` needs in its cache, in the order it downloads them.
CACHE_FILES = (MOLECULES_ARCHIVE, MOLECULES_DIR, STRUCTURE_CHECKPOINT, AFFINITY_CHECKPOINT)
# The file a generated random-weights cache carries.
TEST_WEIGHTS_MARKER = "OMTX_TEST_WEIGHTS.json"


def cache_directory(cache: str | Path) -> Path:
    return Path(cache).expanduser()


def molecules_directory(cache: str | Path) -> Path:
    """Boltz's molecule cache (CCD molecules) inside `cache`."""
    return cache_directory(cache) / MOLECULES_DIR


def ccd_file(code: str, mols_dir: str | Path) -> Path:
    """Where Boltz reads a CCD molecule from (`load_molecules` in boltz/data/mol.py)."""
    return Path(mols_dir) / f"{code}.pkl"


def is_test_cache(cache: str | Path) -> bool:
    """Whether `cache` is a generated random-weights cache (it has the marker file)."""
    return (cache_directory(cache) / TEST_WEIGHTS_MARKER).is_file()
