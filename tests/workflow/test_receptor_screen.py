"""Receptors with parts on the real Boltz-2 code path: `snakemake` runs the unmodified
`boltz predict` (fp32 on CPU, random test weights) on a two-chain receptor with a zinc ion
and a pocket constraint, beside it a covalent screen, and on a template-guided receptor."""

from __future__ import annotations

import json
from pathlib import Path

import gemmi
import pytest
import yaml

from omtx_hub.store import LocalStore
from tests.screens import (
    FAST_MODEL,
    csv_as_declared,
    run_snakemake,
    runtime,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz

REPO = Path(__file__).resolve().parents[2]
# Acrylamides, so that the covalent receptor bonds each (omtx_hub.warheads).
ROWS = [
    ("acrylamide", "C=CC(N)=O"),
    ("N-phenylacrylamide", "C=CC(=O)Nc1ccccc1"),
    ("dimethylacrylamide", "C=CC(=O)N(C)C"),
]
# A covalent screen beside it: the first 19 residues of KRAS G12C, bonded at cysteine 12's SG.
COVALENT = {
    "name": "KRAS",
    "sequence": "MTEYKLVVVGACGVGKSAL",
    "msa": "empty",
    "covalent": {"residue": ["A", 12], "atom": "SG", "warhead": "acrylamide"},
}
# Two different short chains (a hetero-dimer), the zinc on chain D (the ligand takes C).
TWO_CHAINS = {
    "name": "DIMER",
    "chains": [
        # Single-sequence: the default (`msa: server`) would ask the MSA server.
        {"id": "A", "sequence": "MKTAYIAKQRQISF", "msa": "empty"},
        {"id": "B", "sequence": "GSHMLEDPVKHLE", "msa": "empty"},
    ],
    "cofactors": [{"ccd": "ZN", "id": "D"}],
    "pocket": {"residues": [["A", 5], ["B", 11], ["D", "ZN"]], "max_distance": 8},
}


def stored_input(store: Path, key: str, scratch: Path) -> dict:
    """The input.yaml Boltz was given for `key`, as the local store at `store` keeps it."""
    LocalStore(store).fetch(key, "input.yaml", scratch / f"{key}.yaml")
    return yaml.safe_load((scratch / f"{key}.yaml").read_text())


def structure_chains(path: Path) -> dict[str, list[str]]:
    """Chain name -> residue names of an mmCIF structure file (gemmi, Boltz's own reader)."""
    structure = gemmi.read_structure(str(path))
    return {chain.name: [residue.name for residue in chain] for chain in structure[0]}


@pytest.fixture(scope="module")
def receptor_screen(tmp_path_factory, boltz_test_cache):
    workdir = tmp_path_factory.mktemp("receptor")
    raw = write_screen(
        workdir,
        rows=ROWS,
        shard_size=3,
        proteins=[TWO_CHAINS, COVALENT],
        model=FAST_MODEL,
        runtime=runtime(boltz_test_cache),
    )
    run_snakemake(workdir, "--configfile", str(write_config_file(workdir, raw)))
    return workdir


def test_two_chains_a_zinc_and_a_pocket_are_predicted(receptor_screen):
    workdir = receptor_screen
    summary = json.loads((workdir / "results/s1/summary.json").read_text())
    assert summary["counts"]["completed"] == 6 and summary["counts"]["failed"] == 0
    protein, _ = summary["proteins"]
    assert protein["ligand_chain"] == "C"
    assert protein["cofactors"] == [{"ids": ["D"], "ccd": "ZN"}]
    assert [chain["ids"] for chain in protein["chains"]] == [["A"], ["B"]]
    structures = sorted((workdir / "results/s1/structures/DIMER/00000").glob("*.cif"))
    assert len(structures) == 3
    for path in structures:
        chains = structure_chains(path)
        assert set(chains) == {"A", "B", "C", "D"}
        assert len(chains["A"]) == 14 and len(chains["B"]) == 13
        assert chains["C"] == ["LIG1"] and chains["D"] == ["ZN"]


def test_what_boltz_was_given_is_stored_with_each_result(receptor_screen, tmp_path):
    manifest = json.loads((receptor_screen / "results/s1/shards/DIMER/00000.json").read_text())
    for record in manifest["records"]:
        document = stored_input(receptor_screen / "store", record["key"], tmp_path)
        assert [next(iter(entry.values()))["id"] for entry in document["sequences"]] == [
            "A", "B", "C", "D",
        ]  # fmt: skip
        assert document["constraints"] == [
            {
                "pocket": {
                    "binder": "C",
                    "contacts": [["A", 5], ["B", 11], ["D", "ZN"]],
                    "max_distance": 8.0,
                    "force": False,
                }
            }
        ]
        assert document["properties"] == [{"affinity": {"binder": "C"}}]


def test_a_covalent_screen_gives_boltz_the_bond_and_boltz_models_its_atom(
    receptor_screen, tmp_path
):
    """Each acrylamide's β-carbon, named as Boltz names it, bonded to cysteine 12's SG in
    the input Boltz was given; Boltz predicted every target with it (a name it did not give
    the ligand fails its parse: `KeyError` in parse_boltz_schema), and the structure it wrote
    has that atom in the ligand and SG at residue 12. Boltz's mmCIF writer writes no bond
    records, and random weights place no atom at bond length: that the bond reaches the
    structure and the features is tests/unit/test_warheads.py's (Boltz's own parser and
    tokenizer)."""
    from omtx_hub.warheads import covalent_ligand

    manifest = json.loads((receptor_screen / "results/s1/shards/KRAS/00000.json").read_text())
    smiles = dict(ROWS)
    assert len(manifest["records"]) == 3
    for record in manifest["records"]:
        (ligand,) = record["ligands"]
        atom = covalent_ligand(smiles[ligand["name"]], "acrylamide", affinity=True).atom
        document = stored_input(receptor_screen / "store", record["key"], tmp_path)
        assert document["constraints"] == [
            {"bond": {"atom1": ["A", 12, "SG"], "atom2": ["B", 1, atom]}}
        ]
        (path,) = (receptor_screen / "results/s1/structures/KRAS").glob(
            f"*/{record['structures'][ligand['ligand_id']]}"
        )
        structure = gemmi.read_structure(str(path))
        chains = {chain.name: chain for chain in structure[0]}
        assert chains["A"][11].name == "CYS" and chains["A"][11].find_atom("SG", "*")
        assert chains["B"][0].find_atom(atom, "*") is not None
    # Affinity is on: the covalent rows carry Boltz's caveat, the dimer's do not.
    table = csv_as_declared(receptor_screen / "results/s1/batch_results.csv")
    flags = {protein: set(rows["flags"]) for protein, rows in table.groupby("protein")}
    assert all("covalent-affinity" in f for f in flags["KRAS"])
    assert not any("covalent-affinity" in f for f in flags["DIMER"])


def test_a_template_guided_receptor_is_predicted(tmp_path, boltz_test_cache):
    """The first 24 residues of trypsin, templated by the example's holo structure 1GBT
    (whose every residue, 4-guanidinobenzoate and calcium included, the test cache holds)."""
    template = REPO / "config/examples/templates/1GBT.cif"
    receptor = {
        "name": "TRY",
        "chains": [{"id": "A", "sequence": "IVGGYTCGANTVPYQVSLNSGYHF", "msa": "empty"}],
        "templates": [
            {"cif": str(template), "chains": {"A": "A"}, "force": True, "threshold": 2.0}
        ],
    }
    raw = write_screen(
        tmp_path,
        rows=ROWS[:2],
        shard_size=2,
        proteins=[receptor],
        model=FAST_MODEL,
        runtime=runtime(boltz_test_cache),
    )
    run_snakemake(tmp_path, "--configfile", str(write_config_file(tmp_path, raw)))
    manifest = json.loads((tmp_path / "results/s1/shards/TRY/00000.json").read_text())
    assert [r["status"] for r in manifest["records"]] == ["completed", "completed"]
    document = stored_input(tmp_path / "store", manifest["records"][0]["key"], tmp_path)
    assert document["templates"] == [
        {"cif": str(template), "chain_id": ["A"], "template_id": ["A"], "force": True,
         "threshold": 2.0}
    ]  # fmt: skip
