"""Covalent screens (issue 22, item 1): each molecule's reacting atom is found by its
warhead and named as Boltz names it; Boltz reads the bond constraint into a covalent bond of
the structure and a token bond of its features; rows it could not bond are refused at
planning, naming the line; and the covalent site is part of the keys."""

from __future__ import annotations

import pytest
import rdkit.Chem.Descriptors  # noqa: F401 - the parser uses AllChem.Descriptors, set by it
import yaml
from boltz.data import const
from boltz.data.mol import load_canonicals
from boltz.data.parse.schema import parse_boltz_schema
from boltz.data.tokenize.boltz2 import tokenize_structure
from rdkit import Chem

from omtx_hub.boltz_io import write_input
from omtx_hub.config import ConfigError, load_config
from omtx_hub.msa import chain_msas
from omtx_hub.plan import build_plan
from omtx_hub.preflight import check_files
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore
from omtx_hub.warheads import PRESETS, WarheadError, boltz_atom_names, covalent_ligand
from tests.screens import write_screen
from tests.unit.test_receptor import plan_keys

# The first 19 residues of KRAS G12C: cysteine 12 (config/examples/kras-g12c-covalent.yaml).
KRAS_START = "MTEYKLVVVGACGVGKSAL"
SITE = {"residue": ["A", 12], "atom": "SG", "warhead": "acrylamide"}
# One molecule per preset, with the atom that bonds (its index in the SMILES).
PRESET_EXAMPLES = {
    "acrylamide": ("C=CC(=O)N1CCN(c2ccccc2)CC1", 0),
    "chloroacetamide": ("ClCC(=O)Nc1ccccc1", 1),
    "vinyl_sulfonamide": ("C=CS(=O)(=O)Nc1ccccc1", 0),
    "nitrile": ("N#CC1CCCN1C(=O)C", 1),
    "boronic_acid": ("OB(O)c1ccccc1", 1),
}


def covalent_protein(**site) -> dict:
    return {"name": "K", "sequence": KRAS_START, "msa": "empty", "covalent": {**SITE, **site}}


def parsed(document: dict, mols):
    return parse_boltz_schema("t", document, load_canonicals(str(mols)), mols, boltz_2=True)


def test_every_preset_is_covered():
    assert set(PRESET_EXAMPLES) == set(PRESETS)


@pytest.mark.parametrize("affinity", [True, False])
@pytest.mark.parametrize(
    "smiles",
    # Charged, salt-free, stereo, halogenated: Boltz's standardisation and naming at work.
    ["C=CC(=O)N1CCN(c2ccccc2)CC1", "C[NH+](C)C/C=C/C(=O)Nc1ccc(Cl)cc1", "OB(O)c1ccccc1"],
)
def test_atom_names_are_the_ones_boltzs_parser_gives(smiles, affinity, boltz_test_cache):
    # parse_boltz_schema names the affinity ligand's atoms after `standardize`; the names
    # here must be its names, atom for atom.
    from omtx_hub.chemistry import boltz_standardize

    modelled = boltz_standardize(smiles) if affinity else smiles
    document = {"version": 1, "sequences": [{"ligand": {"id": "B", "smiles": smiles}}]}
    if affinity:
        document["properties"] = [{"affinity": {"binder": "B"}}]
    structure = parsed(document, boltz_test_cache / "mols").structure
    assert [str(name) for name in structure.atoms["name"]] == boltz_atom_names(
        Chem.MolFromSmiles(modelled)
    )


@pytest.mark.parametrize("warhead", sorted(PRESET_EXAMPLES))
def test_each_preset_finds_its_reacting_atom(warhead):
    smiles, index = PRESET_EXAMPLES[warhead]
    molecule = Chem.MolFromSmiles(smiles)
    bonded = covalent_ligand(smiles, warhead, affinity=False)
    if warhead == "chloroacetamide":
        # The leaving Cl is not modelled: the ligand is the adduct's heavy atoms.
        assert bonded.smiles == "CC(=O)Nc1ccccc1"
        assert bonded.atom == boltz_atom_names(Chem.MolFromSmiles(bonded.smiles))[0]
    else:
        assert bonded.smiles == smiles
        assert bonded.atom == boltz_atom_names(molecule)[index]


def test_no_match_or_several_matches_are_refused():
    with pytest.raises(WarheadError, match="matches no atom of this molecule"):
        covalent_ligand("CCO", "acrylamide", affinity=True)
    with pytest.raises(WarheadError, match="matches 2 atoms of this molecule"):
        covalent_ligand("C=CC(=O)NCCNC(=O)C=C", "acrylamide", affinity=True)
    # A custom SMARTS may tell them apart.
    custom = "[CH2:1]=[CH]C(=O)N"
    assert covalent_ligand("C=CC(=O)NC(C)C=CC(=O)N(C)C", custom, affinity=False).atom


def test_a_bad_site_is_refused_before_planning(tmp_path):
    def problems(protein) -> str:
        with pytest.raises(ConfigError) as error:
            check_files(load_config(write_screen(tmp_path, proteins=[protein])))
        return str(error.value)

    message = problems(covalent_protein(atom="OG", warhead="[C]=[C]"))
    assert (
        "'proteins[0].covalent.atom': residue 12 of chain A is CYS, which has no atom 'OG'"
        in message
    )
    assert "'proteins[0].covalent.warhead': SMARTS '[C]=[C]' maps 0 atoms as :1" in message
    message = problems(covalent_protein(residue=["A", 40]))
    assert "'proteins[0].covalent.residue': residue 40 is outside chain A (1-19" in message
    message = problems(covalent_protein(warhead="acrylamid"))
    assert "'acrylamid' is neither a preset (acrylamide, chloroacetamide" in message


def test_rows_without_exactly_one_reacting_atom_are_refused_naming_the_line(tmp_path):
    rows = [
        ("sotorasib-like", "C=CC(=O)N1CCN(c2ccccc2)CC1"),
        ("ethanol", "CCO"),
        ("bis", "C=CC(=O)NCCNC(=O)C=C"),
    ]
    raw = write_screen(tmp_path, rows=rows, proteins=[covalent_protein()])
    config = load_config(raw)
    with pytest.raises(SheetError) as error:
        build_plan(config, LocalStore(config.store))
    message = str(error.value)
    assert "line 2" not in message
    assert (
        "line 3: protein 'K' is a covalent screen (acrylamide): the warhead acrylamide "
        "matches no atom of this molecule" in message
    )
    assert (
        "line 4: protein 'K' is a covalent screen (acrylamide): the warhead acrylamide "
        "matches 2 atoms" in message
    )


def test_boltz_reads_the_bond_into_the_structure_and_its_token_bonds(tmp_path, boltz_test_cache):
    # parse_boltz_schema: the constraint becomes a COVALENT bond of the structure between the
    # two named atoms; tokenize_structure (boltz/data/tokenize/boltz2.py) makes it a token
    # bond between the cysteine's token and the ligand atom's, which the featuriser turns into
    # the `token_bonds` feature (featurizerv2.process_token_features).
    for warhead, (smiles, _) in PRESET_EXAMPLES.items():
        site = {"residue": ["A", 12 if warhead != "boronic_acid" else 17], "warhead": warhead}
        site["atom"] = "SG" if warhead != "boronic_acid" else "OG"
        (protein,) = load_config(
            write_screen(tmp_path, proteins=[covalent_protein(**site)])
        ).proteins
        path = tmp_path / "input.yaml"
        spec = protein.receptor
        write_input(path, spec, chain_msas(spec, None), smiles, affinity=True)
        document = yaml.safe_load(path.read_text())
        bonded = covalent_ligand(smiles, warhead, affinity=True)
        assert document["constraints"] == [
            {
                "bond": {
                    "atom1": ["A", site["residue"][1], site["atom"]],
                    "atom2": ["B", 1, bonded.atom],
                }
            }
        ]
        structure = parsed(document, boltz_test_cache / "mols").structure
        (bond,) = structure.bonds[structure.bonds["type"] == const.bond_type_ids["COVALENT"]]
        first, second = structure.atoms[bond["atom_1"]], structure.atoms[bond["atom_2"]]
        assert (str(first["name"]), str(second["name"])) == (site["atom"], bonded.atom)
        assert (int(bond["chain_1"]), int(bond["chain_2"])) == (0, 1)
        tokens, token_bonds = tokenize_structure(structure)
        residue = tokens[(tokens["asym_id"] == 0) & (tokens["res_idx"] == site["residue"][1] - 1)]
        ligand_atom = tokens[(tokens["asym_id"] == 1) & (tokens["atom_idx"] == bond["atom_2"])]
        pair = {int(residue["token_idx"][0]), int(ligand_atom["token_idx"][0])}
        assert pair in [{int(b["token_1"]), int(b["token_2"])} for b in token_bonds]


def test_the_covalent_site_and_warhead_are_in_the_key(tmp_path):
    base = plan_keys(tmp_path, [{"name": "K", "sequence": KRAS_START, "msa": "empty"}])["K"]
    rows = [("acrylamide", "C=CC(=O)N1CCN(c2ccccc2)CC1")]

    def keys(**site):
        raw = write_screen(tmp_path, rows=rows, proteins=[covalent_protein(**site)])
        config = load_config(raw)
        return {t.key for t in build_plan(config, LocalStore(config.store)).targets()}

    covalent = keys()
    custom = keys(warhead="[CX3:1]=[CX3]C(=O)N")
    assert covalent.isdisjoint(custom)
    assert covalent == keys()
    assert base  # the non-covalent receptor plans its own sheet
