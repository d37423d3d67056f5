"""What Boltz-2's input schema makes of a receptor and a screened ligand: the input document of
one target, and what follows from the chains it holds.

Boltz's conventions, from `boltz/data/parse/schema.py` (`parse_boltz_schema`, boltz 2.2.1):
residues are numbered from 1 along the sequence given (`token_spec_to_ids`); a template's
chains are mmCIF `label_asym_id`s and its id is the file's stem; the affinity binder is one
ligand chain. Pure functions: no file is read (omtx_hub.boltz_io writes the document).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from omtx_hub.receptor import ProteinChain, ReceptorSpec, Template
from omtx_hub.records import Binder


def input_document(
    receptor: ReceptorSpec,
    msas: dict[str, str],
    ligand: str | dict[str, str] | Binder,
    *,
    affinity: bool,
    covalent_atom: str | None = None,
) -> dict:
    """The Boltz-2 input for `receptor` + the screened ligand: a SMILES, or Boltz's molecule
    entry (`{"smiles": ...}` or `{"ccd": CODE}`, `target_molecule`), or a binder screen's
    chain (its own polymer entity on the ligand's chain id). `msas` maps each protein
    chain entry's first id to 'empty' or an MSA file path (DNA and RNA chains have none).
    A covalent receptor needs `covalent_atom`, the ligand atom its site bonds (as Boltz names
    it: omtx_hub.warheads), so that its bond is never left out."""
    if (receptor.covalent is None) != (covalent_atom is None):
        raise ValueError(
            "a covalent receptor's document needs the ligand's reacting atom, and only it"
        )
    ligand_chain = receptor.ligand_chain
    sequences: list[dict] = [_polymer(chain, msas) for chain in receptor.chains]
    if isinstance(ligand, Binder):
        if affinity or receptor.covalent is not None or receptor.ligand_copies > 1:
            raise ValueError("a binder is screened without affinity, covalent site or copies")
        sequences.append(_binder(ligand, ligand_chain))
        ligand = None
    screened = {"smiles": ligand} if isinstance(ligand, str) else ligand
    # The screened ligand is the first ligand entity, so Boltz names a SMILES ligand's
    # residue LIG1 (a CCD ligand's by its code).
    # Copies of it are one entity with a list of ids (Boltz refuses affinity for it: the
    # config allows copies without affinity only).
    if screened is not None:
        sequences.append({"ligand": {"id": _boltz_id(receptor.ligand_ids), **screened}})
    for cofactor, ids in zip(receptor.cofactors, receptor.cofactor_ids(), strict=True):
        molecule = {"ccd": cofactor.ccd} if cofactor.ccd else {"smiles": cofactor.smiles}
        sequences.append({"ligand": {"id": _boltz_id(ids), **molecule}})
    document: dict = {"version": 1, "sequences": sequences}
    constraints = _constraints(receptor, ligand_chain)
    if receptor.covalent is not None:
        site = receptor.covalent
        # A ligand is one residue, numbered 1 (docs/prediction.md, `bond`).
        bond = {
            "atom1": [site.residue.chain, site.residue.residue, site.atom],
            "atom2": [ligand_chain, 1, covalent_atom],
        }
        constraints.append({"bond": bond})
    if constraints:
        document["constraints"] = constraints
    if receptor.templates:
        document["templates"] = [_boltz_template(t) for t in receptor.templates]
    if affinity:
        document["properties"] = [{"affinity": {"binder": ligand_chain}}]
    return document


def _polymer(chain: ProteinChain, msas: dict[str, str]) -> dict:
    """A chain as Boltz's schema takes it: `protein`, `dna` or `rna`, with the protein's MSA,
    its `modifications` and `cyclic` where set (so an entry without them is as it always was,
    and so are the keys made from it)."""
    entry: dict = {"id": _boltz_id(chain.ids), "sequence": chain.sequence}
    if chain.has_msa:
        entry["msa"] = msas[chain.ids[0]]
    if chain.modifications:
        entry["modifications"] = [
            {"position": m.position, "ccd": m.ccd} for m in chain.modifications
        ]
    if chain.cyclic:
        entry["cyclic"] = True
    return {chain.type: entry}


def _binder(binder: Binder, chain: str) -> dict:
    """A binder as its own polymer entity: a protein's MSA ('empty' or its file, by absolute
    path as the receptor's are), `cyclic` only where set."""
    entry: dict = {"id": chain, "sequence": binder.sequence}
    if binder.type == "protein":
        entry["msa"] = binder.msa if binder.msa == "empty" else str(Path(binder.msa).resolve())
    if binder.cyclic:
        entry["cyclic"] = True
    return {binder.type: entry}


def target_molecule(target) -> dict[str, str] | Binder:
    """A plan target's ligand (omtx_hub.records.Target) as Boltz's schema takes it:
    `{"ccd": CODE}` for a sheet row by CCD code, a binder screen's Binder, else
    `{"smiles": modelled SMILES}`."""
    if target.binder is not None:
        return target.binder
    return {"ccd": target.ccd} if target.ccd else {"smiles": target.smiles}


def chain_asym_ids(document: dict) -> dict[str, int]:
    """Each chain id of a Boltz input document -> the asym id Boltz gives it, by which its
    confidence JSON's `pair_chains_iptm` is keyed: `parse_boltz_schema`
    (boltz/data/parse/schema.py) groups the entries into entities by (type, sequence or
    molecule) in order of first appearance and numbers the chains entity by entity, each
    entity's ids in order."""
    entities: dict[tuple[str, str], list[str]] = {}
    for entry in document["sequences"]:
        ((kind, fields),) = entry.items()
        molecule = fields.get("sequence") or fields.get("smiles") or fields.get("ccd")
        ids = fields["id"] if isinstance(fields["id"], list) else [fields["id"]]
        entities.setdefault((kind, str(molecule)), []).extend(ids)
    ordered = [chain for ids in entities.values() for chain in ids]
    return {chain: asym for asym, chain in enumerate(ordered)}


def _constraints(receptor: ReceptorSpec, ligand: str) -> list[dict]:
    constraints = []
    if receptor.pocket is not None:
        constraints.append(
            {
                "pocket": {
                    "binder": ligand,
                    "contacts": sorted((r.boltz() for r in receptor.pocket.residues), key=str),
                    "max_distance": receptor.pocket.max_distance,
                    "force": receptor.pocket.force,
                }
            }
        )
    for contact in sorted(receptor.contacts, key=lambda c: (str(c.token1), str(c.token2))):
        constraints.append(
            {
                "contact": {
                    "token1": contact.token1.boltz(),
                    "token2": contact.token2.boltz(),
                    "max_distance": contact.max_distance,
                    "force": contact.force,
                }
            }
        )
    return constraints


def _boltz_id(ids: tuple[str, ...]) -> str | list[str]:
    return ids[0] if len(ids) == 1 else list(ids)


def _boltz_template(template: Template) -> dict:
    entry: dict = {"cif": str(Path(template.cif).resolve())}
    ours, theirs = template.chain_mapping
    if ours is not None:
        entry["chain_id"] = ours
    if theirs is not None:
        entry["template_id"] = theirs
    if template.force:
        entry["force"] = True
        entry["threshold"] = template.threshold
    return entry


def chain_counts(document: dict) -> Counter[str]:
    """The chains of each entity type (`protein`, `ligand`, `dna`, `rna`) in a Boltz input
    document. An `id` list is one chain per id: Boltz makes a copy of the entity for each."""
    counts: Counter[str] = Counter()
    for entry in document["sequences"]:
        ((kind, fields),) = entry.items()
        ids = fields["id"]
        counts[kind] += len(ids) if isinstance(ids, list) else 1
    return counts


def constant_confidence_fields(chains: Counter[str]) -> dict[str, str]:
    """The confidence fields that are 0 by construction for a complex of these chains, each
    with the reason, for the summaries to omit.

    Boltz 2.2.1 computes every ipTM in `compute_ptms` (`boltz/model/layers/confidence_utils.py`)
    as a max over tokens i of sum_j(tm_ij * mask_ij) / (sum_j(mask_ij) + 1e-5), each mask over
    token pairs of *different* chains (`asym_id` differs): `iptm` over all such pairs,
    `ligand_iptm` over protein-ligand pairs (every non-polymer chain is a ligand there: the
    screened ligand and each cofactor), `protein_iptm` over protein-protein pairs. Where a
    composition has no such pair the mask is empty and the value is 0 / 1e-5 = 0, whatever
    the structure.
    """
    proteins, ligands = chains["protein"], chains["ligand"]
    constant = {}
    if sum(chains.values()) < 2:
        constant["iptm"] = "0 by construction: a single chain has no interface"
    if proteins == 0 or ligands == 0:
        constant["ligand_iptm"] = (
            "0 by construction: without both a protein and a ligand chain there is no "
            "protein-ligand interface"
        )
    if proteins < 2:
        constant["protein_iptm"] = (
            f"0 by construction: {proteins} protein chain(s), so no protein-protein interface"
        )
    return constant


def binder_interface_chains(receptor: ReceptorSpec, binder: Binder) -> tuple[int, list[int]]:
    """(the binder's asym id, those of the receptor's polymer chains) in the target's input
    document (`chain_asym_ids`): the chains `binder_iptm` is computed between."""
    msas = {chain.ids[0]: "empty" for chain in receptor.msa_chains}  # (no part of the order)
    asym = chain_asym_ids(input_document(receptor, msas, binder, affinity=False))
    polymers = [asym[i] for chain in receptor.chains for i in chain.ids]
    return asym[receptor.ligand_chain], polymers
