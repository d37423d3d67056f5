"""Ligands by CCD code: the sheet's `ccd` column, checked against Boltz's molecule cache, keyed
and de-duplicated by its code, and written as Boltz's `ligand: {ccd: CODE}`."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from omtx_hub.boltz_schema import target_molecule
from omtx_hub.config import ConfigError, load_config
from omtx_hub.molecule_cache import ccd_lookup
from omtx_hub.plan import build_plan
from omtx_hub.selectivity import selectivity_table
from omtx_hub.sheet import SheetError, validate_sheet
from omtx_hub.store import LocalStore
from tests.screens import write_screen


def sheet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ligands.csv"
    path.write_text(text)
    return path


def test_a_ccd_row_takes_its_molecule_from_the_cache(tmp_path, boltz_test_cache):
    path = sheet(tmp_path, "name,smiles,ccd,note\nethanol,CCO,,x\nfragment,, gbs ,y\n")
    table = validate_sheet(path, affinity=True, ccd_molecules=ccd_lookup(boltz_test_cache / "mols"))
    assert list(table.columns[:6]) == ["line", "index", "name", "ligand_id", "smiles", "ccd"]
    fragment = table.set_index("name").loc["fragment"]
    assert fragment["ccd"] == "GBS" and fragment["smiles"] == ""
    # The cache molecule's SMILES, as Boltz models it: no standardisation (schema.py applies
    # it to SMILES ligands only), so the acid stays as the CCD entry has it.
    assert fragment["modeled_smiles"] == fragment["canonical_smiles"] == "N=C(N)Nc1ccc(C(=O)O)cc1"
    assert fragment["heavy_atoms"] == 13 and fragment["standardisation"] == ""
    assert list(table["note"]) == ["x", "y"]


def test_a_sheet_of_ccd_codes_alone_needs_no_smiles_column(tmp_path):
    table = validate_sheet(sheet(tmp_path, "name,ccd\nsulfate,SO4\n"), affinity=False)
    # Without the cache here the code is only checked for its form; its SMILES is unknown.
    assert table.loc[0, "ccd"] == "SO4" and table.loc[0, "modeled_smiles"] == ""


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("both,CCO,ZN", "line 2 (name 'both'): both column 'smiles' and column 'ccd' are filled"),
        ("neither,,", "line 2 (name 'neither'): neither column 'smiles' nor column 'ccd'"),
        ("bad,,AB-1", "line 2 (name 'bad'): column 'ccd': 'AB-1' is not a CCD code"),
        ("absent,,XYZ99", "line 2 (name 'absent'): column 'ccd': CCD code 'XYZ99' is not in "),
    ],
)
def test_each_row_gives_its_ligand_by_exactly_one_valid_column(
    tmp_path, boltz_test_cache, rows, message
):
    path = sheet(tmp_path, f"name,smiles,ccd\n{rows}\n")
    with pytest.raises(SheetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_sheet(path, affinity=True, ccd_molecules=ccd_lookup(boltz_test_cache / "mols"))


def plan_of(tmp_path: Path, rows, cache: Path, **overrides):
    raw = write_screen(
        tmp_path, rows=rows, extra_columns="ccd", runtime={"cache": str(cache)}, **overrides
    )
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


def targets_of(plan) -> list[dict]:
    return [target for shard in plan.shards.values() for target in shard.targets]


def test_ccd_rows_are_keyed_and_deduplicated_by_their_code(tmp_path, boltz_test_cache):
    rows = [
        ("ethanol", "CCO", ""),
        ("fragment", "", "GBS"),
        ("fragment again", "", "gbs"),
        ("as smiles", "N=C(N)Nc1ccc(C(=O)O)cc1", ""),
    ]
    plan = plan_of(tmp_path, rows, boltz_test_cache)
    by_code, ethanol, as_smiles = (
        next(t for t in targets_of(plan) if t.ligands[0].name == name)
        for name in ("fragment", "ethanol", "as smiles")
    )
    assert [ligand.name for ligand in by_code.ligands] == ["fragment", "fragment again"]
    assert by_code.ccd == "GBS" and by_code.smiles == "N=C(N)Nc1ccc(C(=O)O)cc1"
    # The same molecule by SMILES is another input (atom names, reference conformer).
    assert as_smiles.key != by_code.key and as_smiles.ccd is None
    assert target_molecule(by_code) == {"ccd": "GBS"}
    assert target_molecule(as_smiles) == {"smiles": "N=C(N)Nc1ccc(C(=O)O)cc1"}
    # A SMILES row keeps the key it has in a sheet without the column.
    (tmp_path / "alone").mkdir()
    alone_plan = plan_of(tmp_path / "alone", [("ethanol", "CCO", "")], boltz_test_cache)
    (alone,) = targets_of(alone_plan)
    assert alone.key == ethanol.key
    assert plan.target_count == 3


def test_a_screened_ccd_code_may_not_also_be_a_cofactor(tmp_path, boltz_test_cache):
    protein = {"name": "P1", "sequence": "MKTAYIAKQR", "msa": "empty", "cofactors": [{"ccd": "ZN"}]}
    with pytest.raises(ConfigError, match=r"proteins\[0\]\.cofactors\[0\]\.ccd': ZN is also"):
        plan_of(tmp_path, [("zinc", "", "ZN")], boltz_test_cache, proteins=[protein])


def test_the_size_flag_counts_a_ccd_ligands_heavy_atoms_and_the_limit_its_hydrogens(tmp_path):
    # Icosane: 20 heavy atoms, 62 with hydrogens: Boltz's ccd branch would warn (it counts the
    # cache molecule with its hydrogens), but 20 heavy atoms are inside the training range:
    # not flagged. Perfluorononadecane: 59 heavy atoms, no hydrogen: flagged. C45: 137 atoms
    # with hydrogens, over Boltz's 128, which Boltz does count with hydrogens: refused.
    from rdkit import Chem

    mols = tmp_path / "mols"
    mols.mkdir()
    molecules = {
        "C20": "C" * 20,
        "PFN": "FC(F)(F)" + "C(F)(F)" * 17 + "C(F)(F)F",
        "C45": "C" * 45,
    }
    for code, smiles in molecules.items():
        (mols / f"{code}.pkl").write_bytes(pickle.dumps(Chem.AddHs(Chem.MolFromSmiles(smiles))))
    table = validate_sheet(
        sheet(tmp_path, "name,ccd\nicosane,C20\nperfluoro,PFN\n"),
        affinity=True,
        ccd_molecules=ccd_lookup(mols),
    )
    assert table["heavy_atoms"].tolist() == [20, 59]
    assert table["flags"].tolist() == ["", "heavy-atoms>56"]
    assert (
        validate_sheet(
            sheet(tmp_path, "name,ccd\nperfluoro,PFN\n"),
            affinity=False,
            ccd_molecules=ccd_lookup(mols),
        ).loc[0, "flags"]
        == ""
    )
    with pytest.raises(SheetError, match="C45 has 137 atoms with its hydrogens; Boltz's affinity"):
        validate_sheet(
            sheet(tmp_path, "name,ccd\nbig,C45\n"), affinity=True, ccd_molecules=ccd_lookup(mols)
        )


def test_a_selectivity_panel_tells_ccd_rows_apart_without_their_smiles():
    # Without the cache here, both rows by CCD code have an empty modelled SMILES.
    rows = [
        {
            "protein": protein,
            "index": index,
            "ligand_name": code,
            "ligand_id": code,
            "modeled_smiles": "",
            "ccd": code,
            "status": "completed",
            "error": None,
            "rank": index,
            "affinity_probability_binary": 0.5,
            "pic50": 6.0,
        }
        for protein in ("ON", "OFF")
        for index, code in ((1, "STU"), (2, "ANP"))
    ]
    panel = selectivity_table(pd.DataFrame(rows), "ON", ["OFF"], binder_threshold=0.5)
    assert list(panel["ligand_name"]) == ["STU", "ANP"]
    assert list(panel["sheet_rows"]) == [1, 1]


def test_a_ccd_molecule_boltz_would_model_as_hydrogen_or_as_nothing_is_refused(tmp_path):
    # Boltz models the cache molecule as it is (parse_ccd_residue): no atom for one without
    # heavy atoms; for one heavy atom, the first atom RemoveHs leaves, deuterium included.
    from rdkit import Chem

    mols = tmp_path / "mols"
    mols.mkdir()
    for code, smiles in (("HH", "[H][H]"), ("DOD", "[2H]O[2H]"), ("OD2", "O([2H])[2H]")):
        (mols / f"{code}.pkl").write_bytes(pickle.dumps(Chem.MolFromSmiles(smiles)))

    def refusal(code: str) -> str:
        with pytest.raises(SheetError) as refused:
            validate_sheet(
                sheet(tmp_path, f"name,ccd\nx,{code}\n"), affinity=False, ccd_molecules=lookup
            )
        return str(refused.value)

    lookup = ccd_lookup(mols)
    assert "line 2 (name 'x'): column 'ccd': HH has no heavy atom" in refusal("HH")
    assert "DOD has one heavy atom and its first atom is a hydrogen (H, isotope 2)" in refusal(
        "DOD"
    )
    # Its oxygen first: Boltz models the oxygen.
    table = validate_sheet(
        sheet(tmp_path, "name,ccd\nx,OD2\n"), affinity=False, ccd_molecules=lookup
    )
    assert table.loc[0, "heavy_atoms"] == 1
