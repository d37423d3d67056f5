from pathlib import Path

import pytest

from omtx_hub.config import ConfigError, load_config
from omtx_hub.preflight import check_files


def base_config(tmp_path: Path) -> dict:
    sheet = tmp_path / "ligands.csv"
    sheet.write_text("name,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\n")
    return {
        "screen": {"name": "demo"},
        "proteins": [{"name": "P1", "sequence": "MKTAYIAKQR", "msa": "empty"}],
        "ligands": str(sheet),
    }


def error_of(raw: dict) -> str:
    """The error a config gets before planning: from its models, then from the files it names
    (omtx_hub.preflight)."""
    with pytest.raises(ConfigError) as error:
        check_files(load_config(raw))
    return str(error.value)


def test_minimal_config_gets_boltz_defaults(tmp_path):
    config = load_config(base_config(tmp_path))
    assert config.model.sampling_steps == 200
    assert config.model.affinity is True
    assert config.sharding.shard_size == 100
    assert config.store == "results/store"


def test_unknown_key_is_named(tmp_path):
    raw = base_config(tmp_path) | {"model": {"samping_steps": 3}}
    message = error_of(raw)
    assert "model.samping_steps" in message
    assert "unknown key" in message


def test_unknown_top_level_key_is_named(tmp_path):
    message = error_of(base_config(tmp_path) | {"ligand_sheet": "x.csv"})
    assert "'ligand_sheet': unknown key" in message


def test_missing_required_key(tmp_path):
    raw = base_config(tmp_path)
    del raw["proteins"]
    assert "config key 'proteins': required but missing" in error_of(raw)


def test_invalid_protein_letters_name_the_position(tmp_path):
    raw = base_config(tmp_path)
    raw["proteins"][0]["sequence"] = "MKT1AYZ*"
    message = error_of(raw)
    assert "proteins[0].sequence" in message
    assert "'*'" in message and "'1'" in message
    assert "position 4" in message


def test_sequence_whitespace_is_removed(tmp_path):
    raw = base_config(tmp_path)
    raw["proteins"][0]["sequence"] = "mkta yiak\nqr"
    assert load_config(raw).proteins[0].sequence == "MKTAYIAKQR"


@pytest.mark.parametrize("form", ["path", "mapping"])
def test_missing_sheet_path(tmp_path, form):
    path = str(tmp_path / "nope.csv")
    raw = base_config(tmp_path) | {"ligands": path if form == "path" else {"sheet": path}}
    message = error_of(raw)
    assert "config key 'ligands.sheet'" in message
    assert "nope.csv' does not exist" in message


def test_a_plain_sheet_path_means_the_sheet_with_salts_stripped(tmp_path):
    raw = base_config(tmp_path)
    config = load_config(raw)
    assert config.ligands.sheet == raw["ligands"]
    assert config.ligands.salts == "strip"
    mapping = load_config(raw | {"ligands": {"sheet": raw["ligands"], "salts": "reject"}})
    assert (mapping.ligands.sheet, mapping.ligands.salts) == (raw["ligands"], "reject")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"salts": "strip"}, "config key 'ligands.sheet': required but missing"),
        ({"sheet": "SHEET", "salts": "keep"}, "config key 'ligands.salts'"),
        ({"sheet": "SHEET", "salt": "strip"}, "config key 'ligands.salt': unknown key"),
    ],
)
def test_ligand_settings_are_checked_by_key(tmp_path, settings, named):
    raw = base_config(tmp_path)
    sheet = raw["ligands"]
    raw["ligands"] = {key: sheet if value == "SHEET" else value for key, value in settings.items()}
    assert named in error_of(raw)


def test_store_must_be_local_or_gs(tmp_path):
    assert "gs:// URL" in error_of(base_config(tmp_path) | {"store": "s3://bucket/x"})
    assert load_config(base_config(tmp_path) | {"store": "gs://bucket/screens"})


def test_all_problems_reported_together(tmp_path):
    raw = base_config(tmp_path) | {"model": {"sampling_steps": 0, "colour": "red"}}
    message = error_of(raw)
    assert "model.sampling_steps" in message and "model.colour" in message


def test_ranking_defaults_to_binder_probability_at_one_half(tmp_path):
    config = load_config(base_config(tmp_path))
    assert (config.report.rank_by, config.report.binder_threshold) == ("binder_probability", 0.5)
    assert config.rank_by == "binder_probability"


def test_a_screen_without_affinity_is_ranked_by_confidence(tmp_path):
    config = load_config(base_config(tmp_path) | {"model": {"affinity": False}})
    assert config.rank_by == "confidence"
    raw = base_config(tmp_path) | {"model": {"affinity": False}, "report": {"rank_by": "affinity"}}
    message = error_of(raw)
    assert "report.rank_by: 'affinity' needs model.affinity: true" in message


def test_ranking_choices_and_threshold_range_are_checked(tmp_path):
    assert "report.rank_by" in error_of(base_config(tmp_path) | {"report": {"rank_by": "pic50"}})
    message = error_of(base_config(tmp_path) | {"report": {"binder_threshold": 1.5}})
    assert "report.binder_threshold" in message
    config = load_config(base_config(tmp_path) | {"report": {"rank_by": "affinity"}})
    assert config.rank_by == "affinity"


def test_unsafe_screen_name(tmp_path):
    raw = base_config(tmp_path) | {"screen": {"name": "../etc"}}
    message = error_of(raw)
    assert "screen.name" in message
    assert "file names" in message


def test_duplicate_protein_names(tmp_path):
    raw = base_config(tmp_path)
    raw["proteins"].append(dict(raw["proteins"][0]))
    assert "protein name 'P1' is used twice" in error_of(raw)


def test_msa_file_must_exist(tmp_path):
    raw = base_config(tmp_path)
    raw["proteins"][0]["msa"] = str(tmp_path / "missing.a3m")
    assert "missing.a3m' does not exist" in error_of(raw)
