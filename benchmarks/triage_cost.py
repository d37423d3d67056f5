"""CPU seconds per target of the pose checks and interactions (omtx_hub.pose_checks:
PoseBusters and ProLIF), measured, and what they cost beside a screen's GPU time.

Structures measured:
- crystal complexes: the four protein-ligand complexes PoseBusters ships
  (`posebusters/datasets/pdb`: protein PDB + ligand SDF), written as Boltz writes a prediction
  (mmCIF, no hydrogens, the ligand in its own chain with Boltz's atom names; `boltz_like_cif`):
  real geometry, a full pocket of contacts (the expensive case for interactions);
- with `--screen results/<screen>`: the structures of the screen's completed rows, as Boltz
  predicted them (with the CPU test weights: random geometry, few contacts).

Each structure is checked `--repeats` times in this process after one warm-up (imports and
PoseBusters' first-call set-up are paid once per shard job, not per target). The CPU
seconds (user + system of this process) per target are then compared with the GPU seconds per
target the cost model uses (`cost.seconds_per_target`, docs/google-batch.md). Run in the shard
job on the VM's CPUs while Boltz predicts on the GPU (omtx_hub.pose_store), the checks keep up as
long as one takes less than a prediction, and add to the billed VM time only the last
target's check after Boltz has exited: that share of a shard's GPU cost is what the design
keeps under 5% (exit status 1 otherwise). The share if they ran alone is printed too.

With `--verdict-rows N` it measures instead the aggregation's verdict step
(omtx_hub.triage.triage_verdicts) on a synthetic results table of N rows: the CPU seconds of
evaluating a PoseBusters rule, a required interaction, excluded alerts and two property
windows on every row (the chemistry and pose checks themselves are not part of it).

    python benchmarks/triage_cost.py [--repeats 3] [--screen results/<screen>]
    python benchmarks/triage_cost.py --verdict-rows 100000
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from omtx_hub.config import Cost, Sharding, Triage
from omtx_hub.pose_checks import check_pose
from omtx_hub.triage import triage_verdicts

POSEBUSTERS_COMPLEXES = Path(__import__("posebusters").__file__).parent / "datasets" / "pdb"
BUDGET_SHARE = 0.05


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def boltz_like_cif(protein_pdb: Path, ligand_sdf: Path) -> tuple[bytes, str, str]:
    """(mmCIF, ligand SMILES, ligand chain) of a crystal complex as Boltz writes a prediction:
    the protein chains, and the ligand's heavy atoms named element + canonical rank of its
    SMILES with hydrogens, in the first chain id the protein does not use."""
    import gemmi
    from rdkit import Chem
    from rdkit.Chem import AllChem

    crystal = Chem.MolFromMolFile(str(ligand_sdf))
    smiles = Chem.MolToSmiles(crystal)
    template = AllChem.AddHs(Chem.MolFromSmiles(smiles))
    ranks = AllChem.CanonicalRankAtoms(template)
    heavy = [atom.GetIdx() for atom in template.GetAtoms() if atom.GetAtomicNum() != 1]
    match = Chem.RemoveHs(template).GetSubstructMatch(crystal)
    names = {
        crystal_atom: template.GetAtomWithIdx(heavy[index]).GetSymbol().upper()
        + str(ranks[heavy[index]] + 1)
        for crystal_atom, index in enumerate(match)
    }
    structure = gemmi.read_structure(str(protein_pdb))
    structure.setup_entities()
    structure.remove_ligands_and_waters()
    structure.remove_alternative_conformations()  # Boltz writes one position per atom
    structure.remove_hydrogens()
    structure.remove_empty_chains()
    used = {chain.name for chain in structure[0]}
    chain_id = next(letter for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if letter not in used)
    chain, residue = gemmi.Chain(chain_id), gemmi.Residue()
    residue.name, residue.seqid, residue.het_flag = "LIG1", gemmi.SeqId(1, " "), "H"
    positions = crystal.GetConformer().GetPositions()
    for index, atom in enumerate(crystal.GetAtoms()):
        site = gemmi.Atom()
        site.name, site.element = names[index], gemmi.Element(atom.GetSymbol())
        site.pos, site.occ = gemmi.Position(*positions[index]), 1.0
        residue.add_atom(site)
    chain.add_residue(residue)
    structure[0].add_chain(chain)
    structure.setup_entities()
    return structure.make_mmcif_document().as_string().encode(), smiles, chain_id


def crystal_structures() -> list[tuple[str, bytes, str, str]]:
    found = []
    for directory in sorted(POSEBUSTERS_COMPLEXES.iterdir()):
        name = directory.name
        cif, smiles, chain = boltz_like_cif(
            directory / f"{name}_protein_one_lig_removed.pdb", directory / f"{name}_ligand.sdf"
        )
        found.append((f"crystal {name}", cif, smiles, chain))
    return found


def screen_structures(screen_dir: Path) -> list[tuple[str, bytes, str, str]]:
    """The completed rows' structures of a finished screen, with the modelled SMILES."""
    from omtx_hub.records import read_manifest

    records = [
        record
        for path in sorted((screen_dir / "shards").rglob("*.json"))
        for record in read_manifest(path).records
    ]
    table = pd.read_csv(screen_dir / "batch_results.csv", keep_default_na=False)
    smiles = dict(zip(table["key"], table["modeled_smiles"], strict=True))
    found = []
    for record in records:
        for ligand_id, name in record.structures.items():
            path = next((screen_dir / "structures").rglob(name))
            chain = "B"  # a single-chain receptor's ligand chain (ReceptorSpec.ligand_chain)
            found.append((f"predicted {ligand_id}", path.read_bytes(), smiles[record.key], chain))
    return found


# The verdict step's rules: the demo's (config/demo-triage.yaml) with a hinge hydrogen bond and
# PoseBusters required, so every kind of rule is evaluated.
VERDICT_RULES = Triage(
    require_interactions=["A:MET318 hbond"],
    require_posebusters=True,
    exclude_alerts=["PAINS"],
    properties={"MW": [None, 500], "cLogP": [None, 5]},
)


def synthetic_results(rows: int) -> pd.DataFrame:
    """A results table of `rows` rows with the columns VERDICT_RULES read, mixed so that each
    rule passes and fails on some rows (a fixed seed: the same table every run)."""
    generator = np.random.default_rng(0)

    def pick(*values) -> np.ndarray:
        return np.array(values, dtype=object)[generator.integers(len(values), size=rows)]

    return pd.DataFrame(
        {
            "status": pick(*["completed"] * 49, "failed"),
            "posebusters_pass": pick(True, True, True, False, None),
            "interactions": pick(
                "A:MET318:hbond-donor;A:LYS271:ionic",
                "A:LYS271:ionic;A:PHE382:pi-stacking",
                "A:MET318:hydrophobic",
                "",
            ),
            "alerts": pick("", "", "", "PAINS_A:ene_rhod_A(235)", "Brenk:Michael_acceptor_1"),
            "mw": generator.uniform(150, 650, rows),
            "clogp": generator.uniform(-1, 7, rows),
        }
    )


def verdict_cost(rows: int) -> None:
    table = synthetic_results(rows)
    started = cpu_seconds()
    verdicts = triage_verdicts(table, VERDICT_RULES)
    spent = cpu_seconds() - started
    passing = int((verdicts == "pass").sum())
    print(
        f"triage_verdicts on {rows} rows ({passing} pass): {spent:.2f} CPU s "
        f"({spent / rows * 1e6:.2f} CPU µs per row)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screen", type=Path, help="a finished screen's results directory")
    parser.add_argument(
        "--verdict-rows", type=int, help="measure only the verdict step on this many rows"
    )
    arguments = parser.parse_args(argv)
    if arguments.verdict_rows:
        verdict_cost(arguments.verdict_rows)
        return 0
    structures = crystal_structures()
    if arguments.screen is not None:
        structures += screen_structures(arguments.screen)
    check_pose(*structures[0][1:])  # warm-up: imports, PoseBusters' set-up
    rows = []
    for label, cif, smiles, chain in structures:
        started = cpu_seconds()
        for _ in range(arguments.repeats):
            result = check_pose(cif, smiles, chain)
        rows.append(
            {
                "structure": label,
                "cpu_s_per_target": (cpu_seconds() - started) / arguments.repeats,
                "posebusters_pass": result.posebusters_pass,
                "interactions": len(result.interactions),
                "error": result.error or "",
            }
        )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    cost, shard_size = Cost(), Sharding().shard_size
    worst = table["cpu_s_per_target"].max()
    alone = worst / cost.seconds_per_target
    # In the shard job the checks of one target run while the GPU predicts the next: they keep
    # up while a check takes less than a prediction, and add only the last target's check
    # after Boltz has exited to the shard's billed time.
    shard_gpu_s = shard_size * cost.seconds_per_target + cost.startup_s_per_shard
    added = worst / shard_gpu_s
    print(
        f"\nworst {worst:.2f} CPU s per target; a target's GPU time in the cost model "
        f"(cost.seconds_per_target) is {cost.seconds_per_target:g} s at "
        f"${cost.gpu_hourly_usd:g}/h (Spot L4 VM)\n"
        f"- run alone on the VM: {alone:.1%} of the GPU cost\n"
        f"- run in the shard job beside the GPU (omtx_hub.pose_store): they keep up "
        f"({'yes' if worst < cost.seconds_per_target else 'NO'}: {worst:.2f} s < "
        f"{cost.seconds_per_target:g} s) and add the last target's check to a shard of "
        f"{shard_size} targets ({shard_gpu_s:g} GPU s with start-up): {added:.2%}"
    )
    return 0 if worst < cost.seconds_per_target and added < BUDGET_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
