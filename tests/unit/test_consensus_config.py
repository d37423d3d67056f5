"""A consensus screen's config: one receptor as two `proteins` entries, one per engine, paired
in `consensus` (omtx_hub.config, docs/engines.md "Consensus")."""

from __future__ import annotations

import pytest

from omtx_hub.config import ConfigError, load_config
from tests.unit.test_chai1_engine import PROTEIN, chai1_screen

CHAI_PROTEIN = {**PROTEIN, "name": "P1_chai1", "engine": "chai1"}
BOLTZ_PROTEIN = {**PROTEIN, "msa": "empty"}


def consensus_screen(tmp_path, **overrides) -> dict:
    raw = chai1_screen(tmp_path, model={"engine": "boltz2", "affinity": True})
    raw["proteins"] = overrides.pop("proteins", [BOLTZ_PROTEIN, CHAI_PROTEIN])
    raw["consensus"] = overrides.pop("consensus", [{"boltz2": "P1", "chai1": "P1_chai1"}])
    return raw | overrides


def problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(raw)
    return str(error.value)


def test_each_protein_runs_its_engine_and_the_chai1_one_predicts_no_affinity(tmp_path):
    config = load_config(consensus_screen(tmp_path))
    assert config.engines == {"boltz2", "chai1"}
    assert [config.engine_of(p) for p in config.proteins] == ["boltz2", "chai1"]
    assert config.model_of("P1") is config.model
    assert config.model_of("P1").affinity is True
    chai = config.model_of("P1_chai1")
    assert (chai.engine, chai.affinity) == ("chai1", False)
    assert config.rank_by_of("P1") == config.rank_by == "binder_probability"
    assert config.rank_by_of("P1_chai1") == "aggregate_score"


def test_boltz2_settings_are_allowed_beside_a_chai1_protein(tmp_path):
    raw = consensus_screen(tmp_path)
    raw["model"] |= {"step_scale": 1.5, "use_potentials": True}
    raw["report"] = {"rank_by": "binder_probability"}
    config = load_config(raw)
    assert config.rank_by == "binder_probability"


def test_what_chai1_cannot_do_is_refused_for_the_chai1_protein_only(tmp_path):
    proteins = [{**BOLTZ_PROTEIN, "msa": "server"}, {**CHAI_PROTEIN, "msa": "server"}]
    message = problems(consensus_screen(tmp_path, proteins=proteins, consensus=[]))
    assert "config key 'proteins[1].msa'" in message
    assert "(proteins[1].engine: chai1)" in message
    assert "proteins[0]" not in message


@pytest.mark.parametrize(
    ("pair", "key", "words"),
    [
        ({"boltz2": "P9", "chai1": "P1_chai1"}, "consensus[0].boltz2", "'P9' is not a protein"),
        ({"boltz2": "P1_chai1", "chai1": "P1"}, "consensus[0].boltz2", "runs chai1"),
    ],
)
def test_a_pair_names_one_protein_of_each_engine(tmp_path, pair, key, words):
    message = problems(consensus_screen(tmp_path, consensus=[pair]))
    assert f"config key '{key}'" in message
    assert words in message


@pytest.mark.parametrize(
    ("threshold", "value", "words"),
    [
        ("pose_rmsd_a", 0, "greater than 0"),
        ("min_boltz2_confidence", 1.5, "less than or equal to 1"),
        ("min_chai1_confidence", -0.1, "greater than or equal to 0"),
    ],
)
def test_a_pairs_thresholds_are_checked(tmp_path, threshold, value, words):
    pair = {"boltz2": "P1", "chai1": "P1_chai1", threshold: value}
    message = problems(consensus_screen(tmp_path, consensus=[pair]))
    assert f"config key 'consensus[0].{threshold}'" in message
    assert words in message


def test_a_pair_agrees_at_2_angstroms_without_a_confidence_gate_unless_set(tmp_path):
    (pair,) = load_config(consensus_screen(tmp_path)).consensus
    assert (pair.pose_rmsd_a, pair.min_boltz2_confidence, pair.min_chai1_confidence) == (2, 0, 0)


def test_a_protein_is_in_one_pair(tmp_path):
    proteins = [BOLTZ_PROTEIN, CHAI_PROTEIN, {**BOLTZ_PROTEIN, "name": "P2"}]
    pairs = [{"boltz2": "P1", "chai1": "P1_chai1"}, {"boltz2": "P2", "chai1": "P1_chai1"}]
    message = problems(consensus_screen(tmp_path, proteins=proteins, consensus=pairs))
    assert "config key 'consensus[1].chai1'" in message
    assert "another consensus pair" in message


def test_a_pair_is_one_receptor_whatever_its_msa(tmp_path):
    other = {**CHAI_PROTEIN, "sequence": "MKTAYIAKQL"}
    message = problems(consensus_screen(tmp_path, proteins=[BOLTZ_PROTEIN, other]))
    assert "config key 'consensus[0]'" in message
    assert "not the same receptor" in message
    with_msa = {**BOLTZ_PROTEIN, "msa": "server"}
    assert load_config(consensus_screen(tmp_path, proteins=[with_msa, CHAI_PROTEIN])).consensus
