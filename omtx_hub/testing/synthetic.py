"""A synthetic screen in the workflow's real result formats, for tests and benchmarks.

The plan is real (config + sheet through omtx_hub), the shard manifests have the fields
`omtx_hub.predict` writes, and summary.json / batch_results.csv come from the real
`omtx_hub.aggregate.write_results`. Only the scores are made up (seeded), and each
structure is one small complex with a plausible geometry built by RDKit.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import yaml

from omtx_hub.aggregate import write_results
from omtx_hub.boltz_io import scores
from omtx_hub.config import load_config
from omtx_hub.layout import STRUCTURES_DIR, ScreenLayout, structure_file_name
from omtx_hub.plan import Plan, build_plan
from omtx_hub.records import (
    ManifestEntry,
    ShardManifest,
    Target,
    TargetRecord,
    write_manifest,
)
from omtx_hub.store import LocalStore

PEPTIDE = "MKTAYIAKQRQISFVKSHFS"
FAILURE = "Boltz wrote no complete prediction for this target (synthetic failure)"


# A lookup table, seven pairs a line as in a codon table.
THREE_LETTER = {
    "A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS",
    "I": "ILE", "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN",
    "R": "ARG", "S": "SER", "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR",
}  # fmt: skip


def _helix_backbone(sequence: str) -> list[tuple[str, str, int, np.ndarray]]:
    """(atom, residue, number, xyz) of an ideal alpha helix's backbone (N, CA, C, O): CA on
    a 2.3 Å cylinder, 100° and 1.5 Å per residue, C=O along the axis. Approximate, but
    bonded and drawn as a helix; embedding a peptide with RDKit takes many seconds."""
    atoms = []
    turns = np.radians(100 * np.arange(len(sequence) + 1))
    ca = list(
        np.column_stack([2.3 * np.cos(turns), 2.3 * np.sin(turns), 1.5 * np.arange(len(turns))])
    )
    for i, letter in enumerate(sequence):
        step = ca[i + 1] - ca[i]
        outward = (ca[i] + step / 2) * np.array([1, 1, 0])
        outward = 0.45 * outward / np.linalg.norm(outward)
        residue = THREE_LETTER.get(letter, "UNK")
        carbon = ca[i] + 0.37 * step + outward
        atoms += [
            ("N", residue, i + 1, ca[i] - 0.37 * step + outward),
            ("CA", residue, i + 1, ca[i]),
            ("C", residue, i + 1, carbon),
            ("O", residue, i + 1, carbon + np.array([0, 0, 1.23])),
        ]
    return atoms


def complex_cif(ligand_smiles: str = "CC(=O)Oc1ccccc1C(=O)O", *, scale: float = 1.0) -> str:
    """An mmCIF of a helical peptide with a ligand beside it. `scale` > 1 spreads the
    atoms apart the way random weights do (no bonds survive)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    ligand = Chem.AddHs(Chem.MolFromSmiles(ligand_smiles))
    AllChem.EmbedMolecule(ligand, randomSeed=7)
    ligand = Chem.RemoveHs(ligand)
    placed = ligand.GetConformer().GetPositions()
    placed += np.array([7.0, 0.0, 1.5 * len(PEPTIDE) / 2]) - placed.mean(axis=0)
    atoms = [
        ("ATOM", name[0], name, residue, "A", number, xyz)
        for name, residue, number, xyz in _helix_backbone(PEPTIDE)
    ]
    atoms += [
        ("HETATM", atom.GetSymbol(), f"{atom.GetSymbol()}{atom.GetIdx() + 1}", "LIG", "B", 1, xyz)
        for atom, xyz in zip(ligand.GetAtoms(), placed, strict=True)
    ]
    columns = (
        "group_PDB id type_symbol label_atom_id label_comp_id label_asym_id label_seq_id "
        "Cartn_x Cartn_y Cartn_z auth_seq_id auth_asym_id"
    )
    header = ["data_synthetic", "loop_", *(f"_atom_site.{c}" for c in columns.split())]
    lines = [
        f"{group} {serial} {element} {name} {residue} {chain} {number} "
        f"{x * scale:.3f} {y * scale:.3f} {z * scale:.3f} {number} {chain}"
        for serial, (group, element, name, residue, chain, number, (x, y, z)) in enumerate(atoms, 1)
    ]
    return "\n".join(header + lines) + "\n#\n"


def write_sheet(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A ligand sheet with one extra column, `series`; names are written as given."""
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "smiles", "series"])
        writer.writerows(rows)


def make_plan(
    workdir: Path,
    rows: list[tuple[str, str, str]],
    *,
    screen: str = "synthetic",
    shard_size: int = 10,
    top_n: int = 5,
    proteins: int = 1,
    report: dict | None = None,
    msa_files: bool = False,
    model: dict | None = None,
    selectivity: dict | None = None,
    triage: dict | None = None,
) -> Plan:
    """The plan of a screen of `rows` against `proteins` peptides (P1, P2, ...: PEPTIDE
    rotated by one residue each, so each has keys of its own), single-sequence, or with
    `msa_files` each with an .a3m MSA of its own (its sequence and one homologue); with
    `selectivity`, that panel of them (`{on: P1, off: [P2]}`); with `triage`, those rules."""
    sheet = workdir / f"{screen}-ligands.csv"
    write_sheet(sheet, rows)
    sequences = {
        f"P{number + 1}": PEPTIDE[number:] + PEPTIDE[:number] for number in range(proteins)
    }
    msas = dict.fromkeys(sequences, "empty")
    if msa_files:
        for name, sequence in sequences.items():
            msas[name] = str(workdir / f"{screen}-{name}.a3m")
            Path(msas[name]).write_text(f">{name}\n{sequence}\n>homologue\nG{sequence[1:]}\n")
    raw = {
        "screen": {"name": screen},
        "proteins": [
            {"name": name, "sequence": sequence, "msa": msas[name]}
            for name, sequence in sequences.items()
        ],
        "ligands": str(sheet),
        "sharding": {"shard_size": shard_size},
        "store": str(workdir / "store"),
        "report": {"top_n": top_n, **(report or {})},
        **({"model": model} if model else {}),
        **({"triage": triage} if triage is not None else {}),
    }
    if selectivity is not None:
        raw["selectivity"] = selectivity
    (workdir / f"{screen}.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


def fake_record(plan: Plan, target: Target, failed: bool, rng: random.Random) -> TargetRecord:
    if failed:
        outcome = {"status": "failed", "error": FAILURE}
    else:
        # As Boltz writes them for one protein chain + one ligand: every interface pair is
        # protein-ligand (iptm = ligand_iptm) and there is no protein-protein pair.
        iptm = rng.random()
        confidence = {
            "confidence_score": rng.uniform(0.3, 0.95),
            "ptm": rng.random(),
            "iptm": iptm,
            "ligand_iptm": iptm,
            "protein_iptm": 0.0,
            "complex_plddt": rng.uniform(0.3, 0.95),
            "complex_iplddt": rng.random(),
            "complex_pde": rng.uniform(0.5, 5),
            "complex_ipde": rng.uniform(0.5, 10),
        }
        # The ensemble is the mean of its two heads.
        heads = [(rng.uniform(-3, 3), rng.random()) for _ in range(2)]
        affinity = {
            "affinity_pred_value": (heads[0][0] + heads[1][0]) / 2,
            "affinity_probability_binary": (heads[0][1] + heads[1][1]) / 2,
        }
        for number, (value, probability) in enumerate(heads, 1):
            affinity[f"affinity_pred_value{number}"] = value
            affinity[f"affinity_probability_binary{number}"] = probability
        outcome = {"status": "completed", "error": None, **scores(confidence, affinity)}
    return TargetRecord(key=target.key, smiles=target.smiles, weights=plan.weights, **outcome)


def computed_entry(
    plan: Plan, protein: str, target: Target, failed: bool, rng: random.Random
) -> ManifestEntry:
    """The manifest entry of `target` of `protein`, computed in its shard (in no time), with
    `fake_record`'s outcome."""
    return ManifestEntry.of(
        fake_record(plan, target, failed, rng),
        **(target.placement() | {"protein": protein}),
        source="computed",
        runtime_s=0.0,
    )


def write_shard_manifest(
    path: Path,
    plan: Plan,
    protein: str,
    shard: str,
    records: list[ManifestEntry | dict],
    *,
    failed: int | None = None,
    boltz_wall_s: float,
    job_wall_s: float,
    finished_at: str | None = None,
) -> Path:
    """A shard manifest of `records`, all computed in this shard, as ShardJob writes it;
    `failed` defaults to the failed records' count."""
    entries = [ManifestEntry.model_validate(record) for record in records]
    manifest = ShardManifest(
        screen=plan.screen,
        protein=protein,
        shard=shard,
        targets=len(entries),
        reused=0,
        computed=len(entries),
        failed=sum(e.status == "failed" for e in entries) if failed is None else failed,
        boltz_wall_s=boltz_wall_s,
        job_wall_s=job_wall_s,
        finished_at=finished_at,
        records=entries,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(manifest, path)
    return path


def write_screen(
    plan: Plan,
    results_root: Path,
    *,
    failed_every: int = 0,
    seed: int = 0,
    shards_done: int | None = None,
    committed_in_open_shard: int = 0,
    cif_scale: float = 1.0,
) -> Path:
    """Write results/<screen>/ as the workflow would (its plan, manifests, structures, store
    entries, then the aggregation's files), and return that directory.

    With `shards_done`, only that many shards are finished (manifests, structures) and the
    next one has `committed_in_open_shard` targets in the store: a run in progress, with no
    summary.json or batch_results.csv yet.
    """
    rng = random.Random(seed)
    layout = ScreenLayout.of(results_root, plan.screen)
    # The plan first, as the planning process writes it before any job runs.
    plan.write(LocalStore(Path(results_root).parent))
    cif = complex_cif(scale=cif_scale)
    # One file per shard, hard-linked under each structure's name: 100,000 structures cost
    # no space (and no file gets more links than a file system allows).
    structures_root = layout.screen_dir / STRUCTURES_DIR
    structures_root.mkdir(parents=True, exist_ok=True)
    committed_structure = structures_root / ".synthetic.cif"
    committed_structure.write_text(cif)
    store = LocalStore(plan.config.store)
    manifests = []
    counter = 0
    for number, ((protein, name), shard) in enumerate(plan.shards.items()):
        if shards_done is not None and number >= shards_done:
            if number == shards_done:
                for target in shard.targets[:committed_in_open_shard]:
                    record = fake_record(plan, target, False, rng)
                    store.commit(
                        target.key, {"structure.cif": committed_structure}, record.to_json()
                    )
            continue
        records = []
        structures_dir = layout.structures(protein, name)
        structures_dir.mkdir(parents=True, exist_ok=True)
        template = structures_root / f".synthetic-{protein}-{name}.cif"
        template.write_text(cif)
        for target in shard.targets:
            counter += 1
            failed = bool(failed_every) and counter % failed_every == 0
            record = ManifestEntry.of(
                fake_record(plan, target, failed, rng),
                **target.placement(),
                source="computed",
                structures={},
            )
            if not failed and record.replicate == 0:  # as omtx_hub.predict exports them
                for ligand in record.ligands:
                    file_name = structure_file_name(
                        plan.screen, protein, ligand.index, ligand.ligand_id
                    )
                    os.link(template, structures_dir / file_name)
                    record.structures[ligand.ligand_id] = file_name
            records.append(record)
        path = write_shard_manifest(
            layout.manifest(protein, name),
            plan,
            protein,
            name,
            records,
            boltz_wall_s=12.5 * len(records),
            job_wall_s=14.0 * len(records),
            finished_at="2026-01-01T00:00:00+00:00",
        )
        manifests.append(path)
    if shards_done is None:
        write_results(
            plan,
            manifests,
            csv_path=layout.table,
            parquet_path=layout.parquet_table,
            summary_path=layout.summary,
            selectivity_path=layout.selectivity,
            purchase_list_path=layout.purchase_list,
        )
    return layout.screen_dir
