"""The package's layers (pyproject.toml, [tool.importlinter]) cover every module: a new module
of omtx_hub is placed in a layer, or `lint-imports` (make lint) would not check it."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import omtx_hub

REPO = Path(__file__).resolve().parents[2]


def layered_modules() -> set[str]:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = (c["layers"] for c in contracts["contracts"] if c["type"] == "layers")
    return {module.strip() for layer in layers for module in layer.replace("|", ":").split(":")}


def test_every_module_of_omtx_hub_is_in_a_layer():
    modules = {f"omtx_hub.{module.name}" for module in pkgutil.iter_modules(omtx_hub.__path__)}
    assert modules - layered_modules() == set()
    assert layered_modules() - modules == set()  # no layer names a module that is gone
