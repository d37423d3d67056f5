import json
import math
from collections import Counter

import pytest
import yaml

from omtx_hub.boltz_io import PredictionFiles, boltz_record_id, completed_outputs, scores
from omtx_hub.boltz_schema import chain_counts, constant_confidence_fields, input_document
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import AFFINITY_HEAD_FIELDS

# Boltz's JSON files as it writes them, a few keys a line (fmt: skip keeps them compact).
CONFIDENCE = {
    "confidence_score": 0.8, "ptm": 0.7, "iptm": 0.6, "ligand_iptm": 0.55, "protein_iptm": 0.0,
    "complex_plddt": 0.85, "complex_iplddt": 0.75, "complex_pde": 1.2, "complex_ipde": 2.5,
    "chains_ptm": {"0": 0.7}, "pair_chains_iptm": {"0": {"0": 0.7, "1": 0.6}},
}  # fmt: skip
AFFINITY = {
    "affinity_pred_value": -1.0, "affinity_probability_binary": 0.9,
    "affinity_pred_value1": -1.1, "affinity_probability_binary1": 0.88,
    "affinity_pred_value2": -0.9, "affinity_probability_binary2": 0.92,
}  # fmt: skip


def test_input_document_has_affinity_on_the_ligand():
    receptor = ReceptorSpec.single_chain("MKT")
    document = input_document(receptor, {"A": "empty"}, "CCO", affinity=True)
    assert document["sequences"][0]["protein"] == {"id": "A", "sequence": "MKT", "msa": "empty"}
    assert document["sequences"][1]["ligand"] == {"id": "B", "smiles": "CCO"}
    assert document["properties"] == [{"affinity": {"binder": "B"}}]
    assert "properties" not in input_document(receptor, {"A": "empty"}, "CCO", affinity=False)
    assert yaml.safe_load(yaml.safe_dump(document)) == document


def test_record_id_is_a_safe_file_stem():
    assert boltz_record_id("ab" * 32) == "t" + ("ab" * 12)


def write_outputs(tmp_path, record_id, *, affinity_text=None):
    files = PredictionFiles.under(tmp_path, record_id)
    files.directory.mkdir(parents=True)
    files.structure.write_text("data_x\n")
    files.confidence.write_text(json.dumps(CONFIDENCE))
    if affinity_text is not None:
        files.affinity.write_text(affinity_text)
    return files


def test_complete_outputs_are_parsed(tmp_path):
    files = write_outputs(tmp_path, "t1", affinity_text=json.dumps(AFFINITY))
    confidence, affinity = completed_outputs(files, affinity=True)
    assert confidence["iptm"] == 0.6 and affinity["affinity_probability_binary"] == 0.9


@pytest.mark.parametrize("affinity_text", [None, '{"affinity_pred_value": -1.0, "affin'])
def test_partial_outputs_are_never_complete(tmp_path, affinity_text):
    files = write_outputs(tmp_path, "t1", affinity_text=affinity_text)
    assert completed_outputs(files, affinity=True) is None
    assert completed_outputs(files, affinity=False) is not None


def test_empty_structure_is_not_complete(tmp_path):
    files = write_outputs(tmp_path, "t1", affinity_text=json.dumps(AFFINITY))
    files.structure.write_text("")
    assert completed_outputs(files, affinity=True) is None


def test_scores_and_unit_conversions():
    values = scores(CONFIDENCE, AFFINITY)
    assert values["affinity_pred_value"] == -1.0
    assert values["ic50_um"] == pytest.approx(0.1)
    assert values["pic50"] == pytest.approx(7.0)
    assert values["delta_g_kcal_mol"] == pytest.approx(-7 * 1.364)
    assert values["ligand_iptm"] == 0.55 and values["complex_iplddt"] == 0.75


def test_scores_without_affinity_are_none():
    values = scores(CONFIDENCE, {})
    assert values["affinity_pred_value"] is None and values["pic50"] is None
    assert values["confidence_score"] == 0.8


def test_non_finite_numbers_become_none():
    assert scores({**CONFIDENCE, "iptm": math.nan}, AFFINITY)["iptm"] is None


def test_both_affinity_heads_are_read():
    values = scores(CONFIDENCE, AFFINITY)
    assert [values[field] for field in AFFINITY_HEAD_FIELDS] == [-1.1, 0.88, -0.9, 0.92]
    # A single-head affinity checkpoint writes only the ensemble's two keys.
    single = scores(CONFIDENCE, {"affinity_pred_value": -1.0, "affinity_probability_binary": 0.9})
    assert all(single[field] is None for field in AFFINITY_HEAD_FIELDS)


def test_chains_are_counted_per_id():
    assert chain_counts(
        input_document(ReceptorSpec.single_chain("MKT"), {"A": "empty"}, "CCO", affinity=True)
    ) == {
        "protein": 1,
        "ligand": 1,
    }
    dimer_with_cofactor = {
        "sequences": [
            {"protein": {"id": ["A", "B"], "sequence": "MKT"}},
            {"ligand": {"id": "C", "ccd": "ATP"}},
            {"ligand": {"id": "D", "smiles": "CCO"}},
        ]
    }
    assert chain_counts(dimer_with_cofactor) == {"protein": 2, "ligand": 2}


@pytest.mark.parametrize(
    ("chains", "constant"),
    [
        ({"protein": 1, "ligand": 1}, {"protein_iptm"}),  # this screen's targets
        ({"protein": 2, "ligand": 1}, set()),
        ({"protein": 1, "ligand": 2}, {"protein_iptm"}),  # a cofactor adds no protein chain
        ({"protein": 2}, {"ligand_iptm"}),
        ({"protein": 1}, {"iptm", "ligand_iptm", "protein_iptm"}),
    ],
)
def test_fields_constant_by_construction_follow_the_chains(chains, constant):
    assert set(constant_confidence_fields(Counter(chains))) == constant
