"""Binder-sequence screens (issue 22 item 3): the sheet, the keys, Boltz's input and the
interface score."""

from pathlib import Path

import pandas as pd
import pytest
import rdkit.Chem.Descriptors  # noqa: F401 - the parser uses AllChem.Descriptors, set by it
import yaml
from boltz.data import const
from boltz.data.mol import load_canonicals
from boltz.data.parse.schema import parse_boltz_schema
from snakemake.utils import update_config

from omtx_hub import keys
from omtx_hub.boltz_io import write_input
from omtx_hub.boltz_schema import binder_interface_chains, chain_asym_ids, target_molecule
from omtx_hub.config import ConfigError, load_config
from omtx_hub.msa import chain_msas
from omtx_hub.plan import build_plan
from omtx_hub.predict import ShardError
from omtx_hub.records import SCORE_FIELDS, Binder
from omtx_hub.replicates import combine_replicates
from omtx_hub.sheet import SheetError, binders_of, sheet_own_columns, validate_sheet
from omtx_hub.store import LocalStore
from tests.screens import SHORT_PROTEIN, shard_job, write_screen

REPO = Path(__file__).resolve().parents[2]


def sheet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "binders.csv"
    path.write_text(text)
    return path


def problems(path: Path, *, affinity: bool = False) -> str:
    with pytest.raises(SheetError) as error:
        validate_sheet(path, affinity=affinity)
    return str(error.value)


def test_a_binder_sheet_gives_each_row_its_chain_msa_and_cyclic(tmp_path):
    path = sheet(
        tmp_path,
        "name,sequence,chain_type,msa,cyclic,series\n"
        "p1,gs wae,peptide,,,A\n"
        "d1,acgt,dna,,,B\n"
        "c1,CYCLIC,protein,empty,yes,C\n",
    )
    table = validate_sheet(path, affinity=False)
    assert [(b.sequence, b.type, b.msa, b.cyclic) for b in binders_of(table)] == [
        ("GSWAE", "protein", "empty", False),
        ("ACGT", "dna", None, False),
        ("CYCLIC", "protein", "empty", True),
    ]
    assert sheet_own_columns(table.columns) == ["series"]
    assert set(table["modeled_smiles"]) == {""}
    # A protein binder without an MSA is flagged; a DNA one has none to lack.
    assert list(table["flags"]) == ["binder-no-msa", "", "binder-no-msa"]


def test_binder_rows_are_checked_with_the_receptor_alphabets_naming_line_and_column(tmp_path):
    message = problems(
        sheet(
            tmp_path,
            "name,sequence,chain_type,msa,cyclic\n"
            "bad_letter,GSW1E,peptide,,\n"
            "u_in_dna,ACGU,dna,,\n"
            "unknown_type,AAA,foo,,\n"
            "bad_msa,AAA,,msa.txt,\n"
            "dna_msa,ACGT,dna,x.a3m,\n"
            "not_bool,AAA,,,maybe\n"
            "empty,,,,\n",
        )
    )
    assert "line 2 (name 'bad_letter'): column 'sequence' (protein): invalid amino-acid" in message
    assert "(first at position 4)" in message
    assert "line 3 (name 'u_in_dna'): column 'sequence' (dna): invalid DNA letter(s) 'U'" in message
    assert "line 4 (name 'unknown_type'): column 'chain_type': 'foo'" in message
    assert (
        "line 5 (name 'bad_msa'): column 'msa': 'msa.txt' is neither 'empty', 'server'" in message
    )
    assert "line 6 (name 'dna_msa'): column 'msa': a DNA binder has no MSA" in message
    assert "line 7 (name 'not_bool'): column 'cyclic'" in message
    assert "line 8 (name 'empty'): column 'sequence' (protein): the sequence is empty" in message


def test_a_row_with_a_sequence_and_a_molecule_is_refused(tmp_path):
    message = problems(sheet(tmp_path, "name,sequence,smiles\nmixed,GSW,CCO\n"))
    assert "line 2 (name 'mixed'): both column 'sequence' and column 'smiles' are filled" in message


def test_a_binder_sheet_with_affinity_is_refused(tmp_path):
    message = problems(sheet(tmp_path, "name,sequence\np1,GSW\n"), affinity=True)
    assert "needs model.affinity: false" in message


# --- keys, plan and Boltz's input ----------------------------------------------------------


def binder_config(tmp_path: Path, sheet_text: str, **overrides):
    (tmp_path / "binders.csv").write_text(sheet_text)
    raw = write_screen(tmp_path, model={"affinity": False}, **overrides)
    raw["ligands"] = str(tmp_path / "binders.csv")
    return load_config(raw)


def planned_targets(tmp_path: Path, sheet_text: str, **overrides) -> list:
    config = binder_config(tmp_path, sheet_text, **overrides)
    return list(build_plan(config, LocalStore(config.store)).targets())


def test_each_binder_is_a_target_keyed_by_its_chain_msa_content_and_cycle(tmp_path):
    msa = tmp_path / "b.a3m"
    msa.write_text(">q\nGSWAE\n>h\nGSWAD\n")
    targets = planned_targets(
        tmp_path,
        "name,sequence,chain_type,msa,cyclic\n"
        "p1,GSWAE,peptide,,\n"
        "p1_again,gswae,protein,empty,no\n"  # the same chain: one target, two rows
        f"p1_msa,GSWAE,peptide,{msa},\n"
        "p1_cyclic,GSWAE,peptide,,true\n"
        "d1,ACGT,dna,,\n"
        "r1,ACGU,rna,,\n",
    )
    assert [[ligand.name for ligand in t.ligands] for t in targets] == [
        ["p1", "p1_again"],
        ["p1_msa"],
        ["p1_cyclic"],
        ["d1"],
        ["r1"],
    ]
    assert len({t.key for t in targets}) == 5
    assert all(t.smiles is None for t in targets)
    assert targets[1].binder.msa == str(msa)


def test_rows_of_one_binder_apart_in_the_sheet_share_its_target_in_the_columnar_plan(tmp_path):
    # The plan groups the sheet's rows by molecule (omtx_hub.plan._Molecules): a binder's rows
    # that another binder separates are still one target, in the order binders first appear.
    targets = planned_targets(
        tmp_path,
        "name,sequence,chain_type,msa,cyclic\n"
        "p1,GSWAE,peptide,,\n"
        "q1,GSWAD,peptide,,true\n"
        "p2,gswae,peptide,,\n",
    )
    assert [[ligand.name for ligand in t.ligands] for t in targets] == [["p1", "p2"], ["q1"]]
    assert [(t.binder.sequence, t.binder.cyclic) for t in targets] == [
        ("GSWAE", False),
        ("GSWAD", True),
    ]
    assert all(t.smiles is None and t.ccd is None for t in targets)


def test_each_shard_names_the_msa_files_of_its_own_binders(tmp_path):
    # The shard's inputs (workflow/rules/common.smk, binder_msa_files) and the cloud check of
    # shipped sources (omtx_hub.cloud.check_sources_shipped) read these.
    first, second = tmp_path / "a.a3m", tmp_path / "b.a3m"
    first.write_text(">q\nGSWAE\n")
    second.write_text(">q\nGSWAD\n")
    config = binder_config(
        tmp_path,
        "name,sequence,chain_type,msa\n"
        f"p1,GSWAE,peptide,{first}\n"
        "p2,GSWAK,peptide,\n"
        f"p3,GSWAD,peptide,{second}\n"
        f"p4,GSWAE,peptide,{first}\n",  # p1's target
    )
    plan = build_plan(config, LocalStore(config.store))
    assert plan.binder_msa_files() == [str(first), str(second)]
    assert plan.binder_msa_files(("P1", "00000")) == [str(first)]
    assert plan.binder_msa_files(("P1", "00001")) == [str(second)]


def test_a_binder_key_holds_its_msa_by_content_not_by_path(tmp_path):
    binder = Binder(sequence="GSWAE", type="protein", msa="x.a3m")
    content = keys.msa_file_identity("x.a3m", b">q\nGSWAE\n")
    moved = binder.model_copy(update={"msa": "elsewhere/y.a3m"})
    assert keys.binder_identity(binder, content) == keys.binder_identity(moved, content)
    assert keys.binder_identity(binder, content) != keys.binder_identity(binder, "single-sequence")
    assert keys.binder_identity(binder, content).startswith("binder:")


def test_binders_too_long_for_the_receptor_are_refused_naming_the_line(tmp_path):
    with pytest.raises(SheetError, match=r"line 3: the binder's 30 residues with protein 'P1'"):
        planned_targets(
            tmp_path,
            f"name,sequence\nshort,GSW\nlong,{'A' * 30}\n",
            limits={"protein_max_residues": len(SHORT_PROTEIN) + 10},
        )


def test_a_binder_screen_refuses_ligand_copies(tmp_path):
    protein = {"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty", "ligand_copies": 2}
    with pytest.raises(ConfigError, match=r"proteins\[0\].ligand_copies': a binder-sequence"):
        planned_targets(tmp_path, "name,sequence\np1,GSW\n", proteins=[protein])


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        ("p1,GSWAE,peptide,,", "protein"),
        ("c1,GSWAE,peptide,,true", "protein"),
        ("d1,ACGT,dna,,", "dna"),
        ("r1,ACGU,rna,,", "rna"),
    ],
)
def test_boltz_parses_a_binder_as_its_own_chain(tmp_path, boltz_test_cache, row, kind):
    """Boltz's own parser (parse_boltz_schema, Boltz 2.2.1) on the written input: the binder
    is chain B of its type, after the receptor's chain A, cyclic where asked."""
    (target,) = planned_targets(tmp_path, "name,sequence,chain_type,msa,cyclic\n" + row + "\n")
    config = binder_config(tmp_path, "name,sequence\nx,G\n")
    receptor = config.proteins[0].receptor
    path = tmp_path / "input.yaml"
    write_input(path, receptor, {"A": "empty"}, target_molecule(target), affinity=False)
    document = yaml.safe_load(path.read_text())
    mols = boltz_test_cache / "mols"
    target_input = parse_boltz_schema("t", document, load_canonicals(str(mols)), mols, boltz_2=True)
    chains = target_input.structure.chains
    assert [c["name"] for c in chains] == ["A", "B"]
    assert chains[1]["mol_type"] == const.chain_type_ids[kind.upper()]
    assert chains[1]["res_num"] == len(target.binder.sequence)
    assert chains[1]["cyclic_period"] == (
        len(target.binder.sequence) if target.binder.cyclic else 0
    )
    assert binder_interface_chains(receptor, target.binder) == (1, [0])


def test_the_binder_asym_id_follows_boltz_entity_grouping():
    # A binder with the sequence of a receptor chain joins its entity: Boltz numbers the
    # chains entity by entity, so the binder (C) comes before the other chain (B).
    document = {
        "sequences": [
            {"protein": {"id": "A", "sequence": "GSW"}},
            {"protein": {"id": "B", "sequence": "KKK"}},
            {"protein": {"id": "C", "sequence": "GSW"}},
        ]
    }
    assert chain_asym_ids(document) == {"A": 0, "C": 1, "B": 2}


def test_a_binder_msa_that_boltz_would_ignore_is_refused_naming_the_line(tmp_path):
    msa = tmp_path / "other.a3m"
    msa.write_text(">q\nGSWAD\n")
    with pytest.raises(SheetError, match=r"line 2: column 'msa': .* is not an alignment"):
        planned_targets(tmp_path, f"name,sequence,msa\np1,GSWAE,{msa}\n")
    with pytest.raises(SheetError, match=r"line 2: column 'msa': .* cannot be read"):
        planned_targets(tmp_path, f"name,sequence,msa\np1,GSWAE,{tmp_path / 'none.a3m'}\n")


def test_the_binder_example_inputs_are_what_boltz_parses(tmp_path, boltz_test_cache):
    """config/examples/mdm2-peptide-binders.yaml: each peptide of its sheet, written with its
    receptor (the server MSA's path, as the fetch_msa job leaves it; the server binder's MSA
    file, as the shard job writes it), is read by Boltz's parser as a protein chain B of the
    peptide's length beside MDM2's chain A."""
    example = yaml.safe_load((REPO / "config/examples/mdm2-peptide-binders.yaml").read_text())
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(raw, example)
    config = load_config(raw)
    (protein,) = config.proteins
    receptor = protein.receptor
    binders = binders_of(validate_sheet(REPO / config.ligands.sheet, affinity=False))
    assert [b.sequence for b in binders] == ["SQETFSDLWKLLPEN", "SQETASDLAKLAPEN"] + [
        "SQETFSDLWKLLPEN"
    ]
    assert [b.msa for b in binders] == ["empty", "empty", "server"]
    mols = boltz_test_cache / "mols"
    # The server binder's MSA as the shard job writes it (omtx_hub.predict, from the store).
    server_msa = tmp_path / "server.csv"
    server_msa.write_text("key,sequence\n-1,SQETFSDLWKLLPEN\n")
    for binder in binders:
        if binder.msa == "server":
            binder = binder.model_copy(update={"msa": str(server_msa)})
        path = tmp_path / "input.yaml"
        write_input(path, receptor, chain_msas(receptor, tmp_path / "msa"), binder, affinity=False)
        document = yaml.safe_load(path.read_text())
        parsed = parse_boltz_schema("t", document, load_canonicals(str(mols)), mols, boltz_2=True)
        chains = parsed.structure.chains
        assert [c["name"] for c in chains] == ["A", "B"]
        assert [int(c["res_num"]) for c in chains] == [109, len(binder.sequence)]
        assert chains[1]["mol_type"] == const.chain_type_ids["PROTEIN"]


def test_the_plan_gives_each_binder_the_msa_identity_its_key_was_made_with(tmp_path):
    msa = tmp_path / "b.a3m"
    msa.write_text(">q\nGSWAE\n")
    targets = planned_targets(
        tmp_path, f"name,sequence,chain_type,msa\np1,GSWAE,,{msa}\np2,GSW,,\nd1,ACGT,dna,\n"
    )
    identity = keys.msa_file_identity(msa, msa.read_bytes())
    assert [t.binder.msa_identity for t in targets] == [identity, "single-sequence", None]


def test_a_shard_refuses_a_binder_msa_changed_after_planning(tmp_path):
    msa = tmp_path / "b.a3m"
    msa.write_text(">q\nGSWAE\n")
    config = binder_config(tmp_path, f"name,sequence,msa\np1,GSWAE,{msa}\n")
    store = LocalStore(config.store)
    plan = build_plan(config, store)
    msa.write_text(">q\nGSWAE\n>h\nGSWAD\n")
    job = shard_job(config, plan, store, tmp_path, "P1", "00000")
    with pytest.raises(ShardError, match=r"the MSA of binder GSWAE .* changed after planning"):
        job.run()  # before any weights are read or Boltz is started


def test_replicates_of_a_binder_average_its_interface_scores_and_keep_replicate_0s_strip():
    rows = pd.DataFrame(
        [
            {
                "protein": "P1",
                "index": 1,
                "replicate": replicate,
                "status": "completed",
                "error": None,
                "source": "computed",
                "runtime_s": 1.0,
                "key": f"k-{replicate}",
                **dict.fromkeys(SCORE_FIELDS, 0.5),
                "binder_iptm": iptm,
                "binder_plddt": 0.7,
                "binder_residue_plddt": strip,
            }
            for replicate, (iptm, strip) in enumerate([(0.2, "0.70;0.70"), (0.4, "0.60;0.80")])
        ]
    )
    (row,) = combine_replicates(rows, seeds=[0, 1]).to_dict("records")
    assert row["binder_iptm"] == pytest.approx(0.3) and row["binder_plddt"] == pytest.approx(0.7)
    assert row["binder_residue_plddt"] == "0.70;0.70"


def test_a_binder_identical_to_a_receptor_chain_is_refused_naming_the_line(tmp_path):
    # Boltz would make it another copy of chain A, with chain A's MSA and cyclic.
    with pytest.raises(SheetError, match=r"line 3: the binder is chain A of protein 'P1'"):
        planned_targets(tmp_path, f"name,sequence,cyclic\nok,GSW,\nsame,{SHORT_PROTEIN},true\n")


def test_a_binder_screen_refuses_triage_rules(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'triage': its rules judge small molecules"):
        planned_targets(tmp_path, "name,sequence\np1,GSW\n", triage={"exclude_alerts": ["PAINS"]})
