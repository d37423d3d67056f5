"""The generated JSON Schema and config/README.md tables: current, and meaning what the
model means."""

import re
from typing import get_args

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from omtx_hub.config import Runtime, ScreenConfig
from omtx_hub.receptor import TokenRef
from omtx_hub.schema import SCHEMA_PATH, key_table, section_models, stale_files, value_range


def test_generated_files_are_current():
    assert stale_files() == [], "run `make schema` (python -m omtx_hub.schema) and commit"


def test_the_demo_config_is_valid_and_a_misspelt_key_is_not(repo):
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    # `omtx-hub demo` adds its triage rules over it.
    config.update(yaml.safe_load((repo / "config" / "demo-triage.yaml").read_text()))
    assert config["triage"]["exclude_alerts"] == ["PAINS"]
    validate(config, str(SCHEMA_PATH), set_default=False)
    config["model"]["samping_steps"] = 10
    with pytest.raises(WorkflowError, match="samping_steps"):
        validate(config, str(SCHEMA_PATH), set_default=False)


def test_every_key_has_a_description():
    models = [ScreenConfig, *section_models().values()]
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert missing == []
    assert "| `precision` | `default` | `default` is Boltz's bf16-mixed." in key_table(Runtime)


def test_every_number_key_has_a_finite_range():
    """Every int and float of the config is bounded on both sides (config/README.md's `range`
    column), and floats refuse inf and nan."""
    models = [*section_models().values(), TokenRef]
    numbers = {
        f"{model.__name__}.{name}": field
        for model in models
        for name, field in model.model_fields.items()
        if {int, float} & set(get_args(field.annotation) or (field.annotation,))
    }
    assert len(numbers) > 20
    unbounded = [
        name
        for name, field in numbers.items()
        if not re.fullmatch(r"\S+ <=? x <=? \S+", value_range(field).replace("≤", "<="))
    ]
    assert unbounded == []
    assert all(model.model_config.get("allow_inf_nan") is False for model in models)
    assert "| 1 ≤ x ≤ 16 |" in key_table(Runtime)
