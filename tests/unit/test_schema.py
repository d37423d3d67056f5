"""The generated JSON Schema and config/README.md tables: current, and meaning what the
model means."""

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from omtx_hub.config import Runtime, ScreenConfig
from omtx_hub.schema import SCHEMA_PATH, key_table, section_models, stale_files


def test_generated_files_are_current():
    assert stale_files() == [], "run `make schema` (python -m omtx_hub.schema) and commit"


def test_the_demo_config_is_valid_and_a_misspelt_key_is_not(repo):
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
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
