"""Every input the project writes for Boltz is read by Boltz's own parser
(`boltz.data.parse.schema.parse_boltz_schema`, with the test cache's molecules) into the
chains, ligands, constraints and templates the config describes; and every example config
plans with `snakemake -n`."""

from __future__ import annotations

from pathlib import Path

import pytest
import rdkit.Chem.Descriptors  # noqa: F401 - the parser uses AllChem.Descriptors, set by it
import yaml
from boltz.data.mol import load_canonicals
from boltz.data.parse.schema import parse_boltz_schema
from snakemake.utils import update_config

from omtx_hub.boltz_io import write_input
from omtx_hub.config import ConfigError, load_config
from omtx_hub.msa import chain_msas
from tests.screens import planned_jobs, run_snakemake
from tests.screens import write_screen as write_screen_config
from tests.workflow.test_receptor_screen import TWO_CHAINS

REPO = Path(__file__).resolve().parents[2]
# Boltz-2's examples (a Chai-1 example's are tests/unit/test_chai1_engine.py's).
EXAMPLES = sorted(
    path
    for path in (REPO / "config" / "examples").glob("*.yaml")
    if "engine: chai1" not in path.read_text()
)
PROTEIN, NONPOLYMER = 0, 3  # boltz.data.const.chain_type_ids
POLYMER_TYPES = {"protein": PROTEIN, "dna": 1, "rna": 2}
COVALENT = 5  # boltz.data.const.bond_type_ids["COVALENT"]


def example_config(path: Path, cache: Path):
    """An example merged over config/config.yaml, as Snakemake merges --configfile."""
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(raw, yaml.safe_load(path.read_text()))
    raw["runtime"]["cache"] = str(cache)
    return raw


def boltz_parse(document_path: Path, mols: Path):
    """Boltz's reading of an input file, as `boltz predict` does it (process_input)."""
    schema = yaml.safe_load(document_path.read_text())
    return parse_boltz_schema("t", schema, load_canonicals(str(mols)), mols, boltz_2=True)


# A molecule each covalent example's warhead bonds once (tests/unit/test_warheads.py).
COVALENT_SMILES = {"acrylamide": "C=CC(=O)Nc1ccccc1"}


def written_input(protein, tmp_path: Path, smiles: str = "CCO") -> Path:
    spec = protein.receptor
    if spec.covalent is not None:
        smiles = COVALENT_SMILES[spec.covalent.warhead]
    server = tmp_path / "msa"  # the fetch_msa output: only its path enters the input
    path = tmp_path / f"{protein.name}.yaml"
    write_input(path, spec, chain_msas(spec, server), smiles, affinity=True)
    return path


def check_parsed(protein, target) -> None:
    """What Boltz parsed matches the receptor: chains, the ligand as affinity binder,
    cofactors, pocket and contacts (Boltz's 0-based residue and chain indices), templates."""
    spec = protein.receptor
    record = target.record
    chains = {c.chain_name: c for c in record.chains}
    index = {c.chain_name: c.chain_id for c in record.chains}
    expected = [i for c in spec.chains for i in c.ids]
    expected += [spec.ligand_chain, *(i for ids in spec.cofactor_ids() for i in ids)]
    assert [c.chain_name for c in record.chains] == expected
    for chain in spec.chains:
        for chain_id in chain.ids:
            assert chains[chain_id].mol_type == POLYMER_TYPES[chain.type]
            assert chains[chain_id].num_residues == len(chain.sequence)
    structure = target.structure
    starts = {str(c["name"]): int(c["res_idx"]) for c in structure.chains}
    for chain in spec.chains:
        for modification in chain.modifications:
            residue = structure.residues[starts[chain.ids[0]] + modification.position - 1]
            assert str(residue["name"]) == modification.ccd
    covalent = structure.bonds[structure.bonds["type"] == COVALENT]
    if spec.covalent is None:
        assert len(covalent) == 0
    else:
        (bond,) = covalent
        site = spec.covalent
        assert str(structure.atoms[bond["atom_1"]]["name"]) == site.atom
        assert int(bond["chain_1"]) == index[site.residue.chain]
        assert int(bond["chain_2"]) == index[spec.ligand_chain]
    assert chains[spec.ligand_chain].mol_type == NONPOLYMER
    assert record.affinity.chain_id == index[spec.ligand_chain]
    residue_names = {
        str(chain["name"]): str(target.structure.residues[chain["res_idx"]]["name"])
        for chain in target.structure.chains
    }
    assert residue_names[spec.ligand_chain] == "LIG1"
    for cofactor, ids in zip(spec.cofactors, spec.cofactor_ids(), strict=True):
        for chain_id in ids:
            assert chains[chain_id].mol_type == NONPOLYMER
            assert residue_names[chain_id] == (cofactor.ccd or residue_names[chain_id])
    pockets = record.inference_options.pocket_constraints
    if spec.pocket is None:
        assert pockets == []
    else:
        ((binder, contacts, distance, force),) = pockets
        assert binder == index[spec.ligand_chain]
        assert distance == spec.pocket.max_distance and force == spec.pocket.force
        residues = {(index[r.chain], r.residue - 1) for r in spec.pocket.residues if r.residue}
        assert residues <= set(contacts)
        assert len(contacts) == len(spec.pocket.residues)
    assert len(record.inference_options.contact_constraints) == len(spec.contacts)
    for (token1, token2, distance, force), contact in zip(
        record.inference_options.contact_constraints,
        sorted(spec.contacts, key=lambda c: (str(c.token1), str(c.token2))),
        strict=True,
    ):
        assert token1[0] == index[contact.token1.chain] and token2[0] == index[contact.token2.chain]
        assert (distance, force) == (contact.max_distance, contact.force)
    templated = {(t.query_chain, t.template_chain, t.force) for t in record.templates}
    for template in spec.templates:
        ours, theirs = template.chain_mapping
        if ours and theirs:
            assert {(o, t, template.force) for o, t in zip(ours, theirs, strict=True)} <= templated
        assert Path(template.cif).stem in target.templates
    if not spec.templates:
        assert record.templates == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_inputs_are_what_boltz_parses(example, tmp_path, boltz_test_cache):
    config = load_config(example_config(example, boltz_test_cache))
    for protein in config.proteins:
        target = boltz_parse(written_input(protein, tmp_path), boltz_test_cache / "mols")
        check_parsed(protein, target)


def test_test_screen_inputs_are_what_boltz_parses(tmp_path, boltz_test_cache):
    from tests.screens import SHORT_PROTEIN, write_screen

    raw = write_screen(
        tmp_path,
        proteins=[TWO_CHAINS, {"name": "P1", "sequence": SHORT_PROTEIN}],
        runtime={"cache": str(boltz_test_cache)},
    )
    for protein in load_config(raw).proteins:
        target = boltz_parse(written_input(protein, tmp_path), boltz_test_cache / "mols")
        check_parsed(protein, target)


def test_the_template_boltz_reads_is_the_examples_holo_structure(tmp_path, boltz_test_cache):
    (example,) = [p for p in EXAMPLES if p.stem == "template-guided"]
    (protein,) = load_config(example_config(example, boltz_test_cache)).proteins
    target = boltz_parse(written_input(protein, tmp_path), boltz_test_cache / "mols")
    (record,) = target.record.templates
    assert (record.query_chain, record.template_chain) == ("A", "A")
    assert (record.query_st, record.query_en) == (0, 223)  # the whole sequence aligns
    assert (record.force, record.threshold) == (True, 2.0)
    template = target.templates["1GBT"]
    names = {str(c["name"]) for c in template.chains}
    assert {"A", "B", "E"} <= names  # protein, calcium, the acyl group


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_plan_with_a_dry_run(example, tmp_path):
    """From a directory of its own (its store there), with the repository's config/ beside
    it and no molecule cache, as on a machine that has not run Boltz yet."""
    (tmp_path / "config").symlink_to(REPO / "config")
    result = run_snakemake(
        tmp_path,
        "-n",
        "--configfile",
        str(example.relative_to(REPO)),
        "--config",
        f"runtime={{cache: {tmp_path / 'no-cache'}}}",
    )
    counts = planned_jobs(result.stdout)
    declared = yaml.safe_load(example.read_text())
    receptors = len(declared["proteins"])
    assert counts["boltz_predict_shard"] == receptors  # each sheet fits one shard
    assert counts["fetch_msa"] == receptors  # one paired query per receptor
    # The binder example's `msa: server` peptide: one fetch job for the shards that screen it.
    binder_server_msas = declared["screen"]["name"] == "mdm2-peptide-binders"
    assert counts.get("fetch_binder_msas", 0) == binder_server_msas
    panel = "selectivity" in declared
    assert (f"results/{declared['screen']['name']}/selectivity.csv" in result.stdout) == panel


def test_the_consensus_example_plans_with_a_dry_run(tmp_path, monkeypatch):
    """config/examples/consensus-screen.yaml, as `test_examples_plan_with_a_dry_run` plans the
    others, with Chai-1's components where $CHAI_DOWNLOADS_DIR says: each protein's shard, and
    the server MSA of the Boltz-2 one alone."""
    from tests.unit.test_chai1_engine import fake_downloads

    monkeypatch.setenv("CHAI_DOWNLOADS_DIR", str(fake_downloads(tmp_path / "downloads")))
    (tmp_path / "config").symlink_to(REPO / "config")
    result = run_snakemake(
        tmp_path,
        "-n",
        "--configfile",
        "config/examples/consensus-screen.yaml",
        "--config",
        f"runtime={{cache: {tmp_path / 'no-cache'}}}",
    )
    counts = planned_jobs(result.stdout)
    assert counts["boltz_predict_shard"] == 2
    assert counts["fetch_msa"] == 1


def test_a_ccd_ligand_is_the_affinity_binder_boltz_parses(tmp_path, boltz_test_cache):
    # A sheet row by CCD code (`ccd: GBS`) into a pocket-steered dimer with a zinc: Boltz takes
    # the molecule from its cache, unstandardised, and accepts it as the affinity binder (the
    # `ccd` branch of parse_boltz_schema, boltz/data/parse/schema.py: one residue, at most 128
    # atoms, its molecular weight from the cache molecule).
    from rdkit.Chem import Descriptors

    from omtx_hub.boltz_schema import target_molecule
    from omtx_hub.molecule_cache import ccd_molecule
    from omtx_hub.records import Target

    raw = write_screen_config(tmp_path, proteins=[TWO_CHAINS])
    (protein,) = load_config(raw | {"runtime": {"cache": str(boltz_test_cache)}}).proteins
    spec = protein.receptor
    path = tmp_path / "ccd.yaml"
    screened = Target(
        key="a" * 64, protein="R", smiles="N=C(N)Nc1ccc(C(=O)O)cc1", ccd="GBS", ligands=[]
    )
    molecule = target_molecule(screened)
    write_input(path, spec, chain_msas(spec, tmp_path / "msa"), molecule, affinity=True)
    target = boltz_parse(path, boltz_test_cache / "mols")
    index = {c.chain_name: c.chain_id for c in target.record.chains}
    names = {
        str(chain["name"]): str(target.structure.residues[chain["res_idx"]]["name"])
        for chain in target.structure.chains
    }
    assert names[spec.ligand_chain] == "GBS" and names["D"] == "ZN"
    assert target.record.affinity.chain_id == index[spec.ligand_chain]
    cached = ccd_molecule(str(boltz_test_cache / "mols" / "GBS.pkl"))
    assert target.record.affinity.mw == pytest.approx(Descriptors.MolWt(cached))
    ((binder, _, _, _),) = target.record.inference_options.pocket_constraints
    assert binder == index[spec.ligand_chain]


def test_dna_rna_modified_and_cyclic_chains_are_what_boltz_parses(tmp_path, boltz_test_cache):
    # parse_boltz_schema (boltz/data/parse/schema.py): a `dna`/`rna` entry is a chain of that
    # type, a modification replaces its residue by the CCD component, `cyclic` sets the
    # chain's cyclic_period to its length.
    chains = [
        {
            "id": "A",
            "sequence": "MKTAYIAKQRGSEPTYVAR",
            "msa": "empty",
            "modifications": [{"position": 12, "ccd": "SEP"}],
        },
        {"id": ["B", "C"], "type": "dna", "sequence": "ACGTACGT"},
        {"id": "D", "type": "rna", "sequence": "ACGU"},
        {"id": "E", "sequence": "GRCTKSIPPICFPD", "msa": "empty", "cyclic": True},
    ]
    raw = write_screen_config(tmp_path, proteins=[{"name": "R", "chains": chains}])
    (protein,) = load_config(raw | {"runtime": {"cache": str(boltz_test_cache)}}).proteins
    target = boltz_parse(written_input(protein, tmp_path), boltz_test_cache / "mols")
    structure = target.structure
    by_name = {str(c["name"]): c for c in structure.chains}
    dna, rna = 1, 2  # boltz.data.const.chain_type_ids
    assert [int(by_name[n]["mol_type"]) for n in "ABCDEF"] == [
        PROTEIN,
        dna,
        dna,
        rna,
        PROTEIN,
        NONPOLYMER,
    ]

    def residues(name):
        chain = by_name[name]
        start = chain["res_idx"]
        return [str(r["name"]) for r in structure.residues[start : start + chain["res_num"]]]

    assert residues("A")[11] == "SEP" and residues("A")[10] == "GLY"
    assert residues("B") == ["DA", "DC", "DG", "DT"] * 2
    assert residues("D") == ["A", "C", "G", "U"]
    assert [int(by_name[n]["cyclic_period"]) for n in "ABE"] == [0, 0, 14]
    assert residues("F") == ["LIG1"]


def test_copies_of_the_screened_ligand_are_what_boltz_parses(tmp_path, boltz_test_cache):
    # Boltz makes one ligand entity of `id: [B, C]`, one chain per id (parse_boltz_schema);
    # it refuses affinity for it, so the config allows copies without affinity only.
    protein = {
        "name": "R",
        "chains": [{"id": "A", "sequence": "MKTAYIAKQRQISF", "msa": "empty"}],
        "cofactors": [{"ccd": "ZN"}],
        "ligand_copies": 2,
        "pocket": {"residues": [["A", 5]]},
    }
    with pytest.raises(ConfigError, match=r"proteins\[0\].ligand_copies': 2 copies of the"):
        load_config(write_screen_config(tmp_path, proteins=[protein]))
    raw = write_screen_config(tmp_path, proteins=[protein], model={"affinity": False})
    (config_protein,) = load_config(raw | {"runtime": {"cache": str(boltz_test_cache)}}).proteins
    spec = config_protein.receptor
    assert spec.ligand_ids == ("B", "C") and spec.cofactor_ids() == [("D",)]
    path = tmp_path / "copies.yaml"
    write_input(path, spec, chain_msas(spec, tmp_path / "msa"), "c1ccccc1O", affinity=False)
    target = boltz_parse(path, boltz_test_cache / "mols")
    chains = {c.chain_name: c for c in target.record.chains}
    assert [c.chain_name for c in target.record.chains] == ["A", "B", "C", "D"]
    assert chains["B"].mol_type == chains["C"].mol_type == NONPOLYMER
    assert chains["B"].entity_id == chains["C"].entity_id  # one molecule, two copies
    ((binder, _, _, _),) = target.record.inference_options.pocket_constraints
    assert binder == chains["B"].chain_id
