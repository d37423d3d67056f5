"""Receptors in the config: every inconsistency is reported before planning with its key,
and a target's key covers every part of its receptor and nothing else."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from omtx_hub.boltz_schema import input_document
from omtx_hub.config import ConfigError, load_config
from omtx_hub.plan import build_plan
from omtx_hub.preflight import check_files
from omtx_hub.store import LocalStore
from tests.screens import SHORT_PROTEIN, write_screen

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "config/examples/templates/1GBT.cif"
TRYPSIN_START = "IVGGYTCGANTVPYQVSLNSGYHF"


def receptor(**parts) -> dict:
    # Single-sequence: the default (`msa: server`) would ask the MSA server.
    return {"name": "R", "chains": [{"id": "A", "sequence": "MKTAYIAKQR", "msa": "empty"}], **parts}


def problems(tmp_path, *proteins, **overrides) -> str:
    """What a screen of `proteins` is refused for before planning (its models, then the files
    it names)."""
    with pytest.raises(ConfigError) as error:
        check_files(load_config(write_screen(tmp_path, proteins=list(proteins), **overrides)))
    return str(error.value)


def config_of(tmp_path, *proteins, **overrides):
    return load_config(write_screen(tmp_path, proteins=list(proteins), **overrides))


def test_residue_outside_its_chain_names_key_chain_and_range(tmp_path):
    message = problems(tmp_path, receptor(pocket={"residues": [["A", 3], ["A", 4], ["A", 11]]}))
    assert "config key 'proteins[0].pocket.residues[2]': residue 11 is outside chain A (1-10" in (
        message
    )


def test_unknown_chains_in_constraints_and_templates(tmp_path):
    message = problems(
        tmp_path,
        receptor(
            pocket={"residues": [{"chain": "Z", "residue": 1}]},
            contacts=[{"token1": ["A", 1], "token2": ["Y", 2]}],
            templates=[{"cif": str(TEMPLATE), "chains": {"Q": "A"}}],
        ),
    )
    assert "'proteins[0].pocket.residues[0]': unknown chain 'Z' (chains: A, C)" not in message
    assert "'proteins[0].pocket.residues[0]': unknown chain 'Z' (chains: A)" in message
    assert "'proteins[0].contacts[0].token2': unknown chain 'Y'" in message
    assert "'proteins[0].templates[0].chains': 'Q' is not a protein chain of this receptor" in (
        message
    )


def test_template_chain_that_the_file_lacks(tmp_path):
    message = problems(tmp_path, receptor(templates=[{"cif": str(TEMPLATE), "chains": {"A": "B"}}]))
    # B is 1GBT's calcium (a label_asym_id, but not a protein chain).
    assert "template chain 'B' is not a protein chain of" in message
    assert "its label_asym_ids: A" in message


def test_template_that_does_not_parse(tmp_path):
    broken = tmp_path / "broken.cif"
    broken.write_text("this is not mmCIF\n")
    message = problems(tmp_path, receptor(templates=[{"cif": str(broken)}]))
    assert "'proteins[0].templates[0].cif': template" in message and "does not parse" in message


def test_template_force_needs_threshold_and_file_names_must_differ(tmp_path):
    message = problems(tmp_path, receptor(templates=[{"cif": str(TEMPLATE), "force": True}]))
    assert "force: true needs a `threshold`" in message
    copy = tmp_path / "other" / "1GBT.cif"
    copy.parent.mkdir()
    shutil.copyfile(TEMPLATE, copy)
    message = problems(tmp_path, receptor(templates=[{"cif": str(TEMPLATE)}, {"cif": str(copy)}]))
    assert "'proteins[0].templates[1].cif': templates[0] has the same file name stem '1GBT'" in (
        message
    )


def test_duplicate_chain_ids(tmp_path):
    message = problems(
        tmp_path,
        receptor(
            chains=[
                {"id": "A", "sequence": "MKTAYIAKQR", "copies": 2},
                {"id": "B", "sequence": "GSHM"},
            ],
            cofactors=[{"ccd": "ZN", "id": "A"}],
        ),
    )
    assert "'proteins[0].chains[1].id': chain id 'B' is used twice (also in chains[0].id)" in (
        message
    )
    assert "'proteins[0].cofactors[0].id': chain id 'A' is used twice" in message


def test_copies_and_ids_must_agree(tmp_path):
    message = problems(
        tmp_path, receptor(chains=[{"id": ["A", "B"], "sequence": "MKT", "copies": 3}])
    )
    assert "copies: 3 but 2 ids are given" in message


def test_a_residue_number_on_a_cofactor_and_an_atom_a_smiles_cofactor_lacks(tmp_path):
    message = problems(
        tmp_path,
        receptor(
            cofactors=[{"ccd": "ZN"}, {"smiles": "CC(=O)O"}],
            pocket={"residues": [["C", 1], ["D", "ZN"], ["A", "CA"], ["B", 1]]},
        ),
    )
    assert "'proteins[0].pocket.residues[0]': chain C is a cofactor: give an atom name" in message
    assert (
        "'proteins[0].pocket.residues[1]': cofactor chain D has no atom 'ZN' "
        "(its atoms: C7, C8, O5, O6)" in message
    )
    assert "'proteins[0].pocket.residues[2]': chain A is a protein chain: give a residue" in (
        message
    )
    assert "'proteins[0].pocket.residues[3]': chain B is the screened ligand's" in message


def test_identical_sequences_need_one_msa(tmp_path):
    msa = tmp_path / "a.a3m"
    msa.write_text(">q\nMKTAYIAKQR\n")
    message = problems(
        tmp_path,
        receptor(
            chains=[
                {"id": "A", "sequence": "MKTAYIAKQR", "msa": "empty"},
                {"id": "B", "sequence": "MKTAYIAKQR", "msa": str(msa)},
            ]
        ),
    )
    assert "'proteins[0].chains[1].msa': chains[0] has the same sequence with msa 'empty'" in (
        message
    )


def test_distances_outside_what_boltz_supports(tmp_path):
    message = problems(tmp_path, receptor(pocket={"residues": [["A", 1]], "max_distance": 3}))
    assert "'proteins[0].pocket.max_distance'" in message and "greater than or equal to 4" in (
        message
    )


def test_sequence_and_chains_together_are_refused(tmp_path):
    message = problems(tmp_path, receptor(sequence=SHORT_PROTEIN))
    assert "give either `sequence` (one chain) or `chains`" in message


def test_ccd_code_missing_from_the_molecule_cache(tmp_path):
    mols = tmp_path / "cache" / "mols"
    mols.mkdir(parents=True)
    message = problems(
        tmp_path, receptor(cofactors=[{"ccd": "zn"}]), runtime={"cache": str(tmp_path / "cache")}
    )
    assert (
        "'proteins[0].cofactors[0].ccd': CCD code 'ZN' is not in Boltz's molecule cache" in message
    )
    # Without a cache on this machine (a job's machine has its own) nothing is checked.
    assert config_of(tmp_path, receptor(cofactors=[{"ccd": "ZN"}]), runtime={"cache": "/none"})


def test_cofactor_atoms_and_template_residues_are_checked_against_the_cache(
    tmp_path, boltz_test_cache
):
    cache = tmp_path / "cache"
    shutil.copytree(boltz_test_cache / "mols", cache / "mols")
    (cache / "mols" / "GBS.pkl").unlink()
    message = problems(
        tmp_path,
        receptor(
            cofactors=[{"ccd": "SO4"}],
            pocket={"residues": [["C", "O9"]]},
            templates=[{"cif": str(TEMPLATE)}],
        ),
        runtime={"cache": str(cache)},
    )
    assert "SO4 (chain C) has no atom 'O9' (its heavy atoms: O1, O2, O3, O4, S)" in message
    assert "lacks the residues GBS of" in message
    with open(cache / "mols" / "SO4.pkl", "rb") as handle:
        assert pickle.load(handle).GetProp("_Name") == "SO4"  # noqa: S301


def test_single_chain_configs_keep_working_as_before(tmp_path):
    (protein,) = config_of(tmp_path, {"name": "P1", "sequence": SHORT_PROTEIN}).proteins
    # The MSA default is the server, as Boltz recommends (docs/inputs.md, MSAs).
    assert protein.msa == "server" and protein.sequence == SHORT_PROTEIN
    spec = protein.receptor
    assert spec.is_shorthand and spec.ligand_chain == "B"
    assert input_document(spec, {"A": "empty"}, "CCO", affinity=True) == {
        "version": 1,
        "sequences": [
            {"protein": {"id": "A", "sequence": SHORT_PROTEIN, "msa": "empty"}},
            {"ligand": {"id": "B", "smiles": "CCO"}},
        ],
        "properties": [{"affinity": {"binder": "B"}}],
    }


def test_ligand_and_cofactor_chain_ids_are_the_free_letters(tmp_path):
    (protein,) = config_of(
        tmp_path,
        receptor(
            chains=[{"id": "A", "sequence": "MKT", "copies": 2}, {"id": "D", "sequence": "GSH"}],
            cofactors=[{"ccd": "MG", "copies": 2}, {"smiles": "O=P(O)(O)O", "id": "P"}],
        ),
    ).proteins
    spec = protein.receptor
    assert [c.ids for c in spec.chains] == [("A", "B"), ("D",)]
    assert spec.ligand_chain == "C"
    assert spec.cofactor_ids() == [("E", "F"), ("P",)]


def plan_keys(tmp_path, proteins) -> dict[str, set[str]]:
    config = load_config(write_screen(tmp_path, proteins=proteins))

    plan = build_plan(config, LocalStore(config.store))
    keys: dict[str, set[str]] = {}
    for shard in plan.shards.values():
        keys.setdefault(shard.protein, set()).update(t.key for t in shard.targets)
    return keys


def test_adding_a_cofactor_changes_only_that_receptors_keys(tmp_path):
    other = {"name": "OTHER", "sequence": SHORT_PROTEIN}
    before = plan_keys(tmp_path, [receptor(), other])
    after = plan_keys(tmp_path, [receptor(cofactors=[{"ccd": "ZN"}]), other])
    assert after["OTHER"] == before["OTHER"]
    assert not after["R"] & before["R"]


def test_the_key_covers_every_part_and_nothing_else(tmp_path):
    def keys(**parts):
        return plan_keys(tmp_path, [receptor(**parts)])["R"]

    base = keys()
    pocket = {"residues": [["A", 2], ["A", 5]]}
    variants = [
        keys(chains=[{"id": "A", "sequence": "MKTAYIAKQR", "copies": 2}]),
        keys(chains=[{"id": "A", "sequence": "MKTAYIAKQG"}]),
        keys(chains=[{"id": "H", "sequence": "MKTAYIAKQR"}]),  # chain names are in the files
        keys(cofactors=[{"smiles": "CC(=O)OC"}]),
        keys(pocket=pocket),
        keys(pocket={**pocket, "force": True}),
        keys(pocket={**pocket, "max_distance": 7}),
        keys(contacts=[{"token1": ["A", 1], "token2": ["A", 9]}]),
    ]
    assert all(not (variant & base) for variant in variants)
    assert len({frozenset(v) for v in variants}) == len(variants)
    # The entry's name and the order the pocket's residues are listed in are not in the key.
    renamed = plan_keys(tmp_path, [{**receptor(), "name": "RENAMED"}])["RENAMED"]
    assert renamed == base
    assert keys(pocket={"residues": [["A", 5], ["A", 2]]}) == keys(pocket=pocket)
    # Equivalent SMILES of a cofactor are one molecule.
    assert keys(cofactors=[{"smiles": "COC(C)=O"}]) == keys(cofactors=[{"smiles": "CC(=O)OC"}])


def test_template_content_is_in_the_key_not_its_path(tmp_path):
    first, second = tmp_path / "a" / "t.cif", tmp_path / "b" / "t.cif"
    for path in (first, second):
        path.parent.mkdir()
        shutil.copyfile(TEMPLATE, path)
    chain = [{"id": "A", "sequence": TRYPSIN_START}]

    def keys(path, **options):
        return plan_keys(
            tmp_path, [receptor(chains=chain, templates=[{"cif": str(path), **options}])]
        )["R"]  # noqa: E501

    assert keys(first) == keys(second)
    assert keys(first) != keys(first, force=True, threshold=2.0)
    assert keys(first, force=True, threshold=2.0) != keys(first, force=True, threshold=3.0)
    assert keys(first) != keys(first, chains={"A": "A"})
    second.write_text(second.read_text().replace("1GBT", "9XYZ"))
    assert keys(first) != keys(second)


def test_a_cofactor_that_is_also_screened_is_refused(tmp_path):
    config = load_config(write_screen(tmp_path, proteins=[receptor(cofactors=[{"smiles": "OCC"}])]))

    with pytest.raises(ConfigError, match=r"proteins\[0\]\.cofactors\[0\]\.smiles': CCO is also"):
        build_plan(config, LocalStore(config.store))


@pytest.mark.parametrize(
    ("letter", "folded"), [("ß", "SS"), ("ﬁ", "FI"), ("ſ", "S"), ("ı", "I"), ("ǆ", "Ǆ")]
)
def test_a_chains_sequence_is_what_was_typed_never_unicode_case_folded(tmp_path, letter, folded):
    """Python's upper() would make the letter `folded` (the residue count and every residue
    number after it would change): only ASCII letters change case; any other is refused,
    named with its code point and position (Boltz would read it as an unknown residue)."""
    sequence = f"mkt{letter}ayiakqr"
    chain = {"id": "A", "sequence": sequence, "msa": "empty"}
    message = problems(tmp_path, receptor(chains=[chain]))
    assert (
        f"config key 'proteins[0].chains[0].sequence': invalid amino-acid letter(s) "
        f"{letter!r} (U+{ord(letter):04X}) (first at position 4)"
    ) in message
    ascii_only = config_of(tmp_path, receptor(chains=[chain | {"sequence": "mktayiakqr"}]))
    assert ascii_only.proteins[0].receptor.chains[0].sequence == "MKTAYIAKQR"


def test_the_trypsin_examples_calcium_is_held_on_the_residues_that_bind_it_in_1gbt():
    # The calcium of config/examples/template-guided.yaml, unrestrained, could take the S1
    # pocket the screened ligands are meant for. Its contacts must name exactly the protein
    # residues that bind it in the PDB entry the example follows (1GBT's struct_conn metalc
    # records, in label_seq_id numbering: the example's sequence is the structure's own),
    # each within the contact's distance there.
    import gemmi
    import yaml

    raw = yaml.safe_load((REPO / "config/examples/template-guided.yaml").read_text())
    (protein,) = load_config(raw).proteins
    receptor = protein.receptor
    ((calcium_chain,),) = receptor.cofactor_ids()
    assert receptor.cofactors[0].ccd == "CA"
    block = gemmi.cif.read(str(TEMPLATE)).sole_block()
    fields = ["conn_type_id", "ptnr1_label_comp_id", "ptnr2_label_asym_id"]
    fields += ["ptnr2_label_seq_id", "ptnr2_label_comp_id", "pdbx_dist_value"]
    bound = {
        int(seq): float(distance)
        for kind, metal, chain, seq, residue, distance in block.find("_struct_conn.", fields)
        if kind == "metalc" and metal == "CA" and chain == "A" and residue != "HOH"
    }
    assert sorted(bound) == [52, 54, 57, 62]  # E70, N72, V75, E80 (chymotrypsinogen numbering)
    held = {}
    for contact in receptor.contacts:
        assert (contact.token1.chain, contact.token1.atom) == (calcium_chain, "CA")
        assert contact.token2.chain == "A"
        held[contact.token2.residue] = contact.max_distance
    assert sorted(held) == sorted(bound)
    assert all(bound[residue] <= held[residue] for residue in bound)
    sequence = receptor.chains[0].sequence
    assert [sequence[residue - 1] for residue in sorted(bound)] == ["E", "N", "V", "E"]
