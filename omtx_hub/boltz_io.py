"""Boltz-2's files: the input YAML of a target (omtx_hub.boltz_schema's document), where Boltz
writes each output, and the normalized scores made from its JSON.

The units derived from `affinity_pred_value` are defined in omtx_hub.records (`affinity_units`).

Boltz-2's affinity model is an ensemble of two heads (`affinity_module1`/`affinity_module2` in
`boltz/model/models/boltz2.py`, `Boltz2.forward`): `affinity_pred_value` and
`affinity_probability_binary` are the means of the two heads' values, and with
`--affinity_mw_correction` the ensemble's `affinity_pred_value` (only) is then recalibrated
with the ligand's molecular weight, `1.03525938 * mean - 0.59992683 * MW ** 0.3 + 2.83288489`.
Each head's own values are written as `affinity_pred_value1/2` and
`affinity_probability_binary1/2` (`BoltzAffinityWriter.write_on_batch_end` in
`boltz/data/write/writer.py`; only for an ensemble checkpoint, so they may be absent).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from omtx_hub.binders import pair_iptm
from omtx_hub.boltz_schema import input_document
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import (
    AFFINITY_FIELDS,
    AFFINITY_HEAD_FIELDS,
    CONFIDENCE_FIELDS,
    DERIVED_FIELDS,
    affinity_units,
)
from omtx_hub.warheads import WarheadError, covalent_ligand


def boltz_record_id(key: str) -> str:
    """The input file stem Boltz uses as the record ID inside one shard run."""
    return f"t{key[:24]}"


def write_input(
    path: Path,
    receptor: ReceptorSpec,
    msas: dict[str, str],
    ligand: str | dict[str, str],
    *,
    affinity: bool,
) -> None:
    covalent_atom = None
    if receptor.covalent is not None:
        if not isinstance(ligand, str) and "smiles" not in ligand:
            raise WarheadError("a covalent screen takes molecules by SMILES")
        smiles = ligand if isinstance(ligand, str) else ligand["smiles"]
        bonded = covalent_ligand(smiles, receptor.covalent.warhead, affinity=affinity)
        ligand, covalent_atom = {"smiles": bonded.smiles}, bonded.atom
    document = input_document(
        receptor, msas, ligand, affinity=affinity, covalent_atom=covalent_atom
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@dataclass(frozen=True)
class PredictionFiles:
    """Where `boltz predict` puts the outputs of one record (model_0 is the best sample)."""

    directory: Path
    record_id: str

    @classmethod
    def under(cls, results_dir: Path, record_id: str) -> PredictionFiles:
        return cls(results_dir / "predictions" / record_id, record_id)

    @property
    def structure(self) -> Path:
        return self.directory / f"{self.record_id}_model_0.cif"

    @property
    def confidence(self) -> Path:
        return self.directory / f"confidence_{self.record_id}_model_0.json"

    @property
    def affinity(self) -> Path:
        return self.directory / f"affinity_{self.record_id}.json"

    def stored_files(self, *, affinity: bool) -> dict[str, Path]:
        """The files kept in the store, under the names they get there."""
        files = {"structure.cif": self.structure, "confidence.json": self.confidence}
        if affinity:
            files["affinity.json"] = self.affinity
        return files


def read_json_if_complete(path: Path) -> dict | None:
    """A JSON file Boltz wrote, or None while it is absent or still being written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def completed_outputs(files: PredictionFiles, *, affinity: bool) -> tuple[dict, dict] | None:
    """(confidence, affinity) once every expected file is written and parses; else None.

    Boltz exits 0 even when an input failed and skips any target whose directory exists, so
    completion is decided from the files themselves, never from the exit code.
    """
    if not files.structure.is_file() or files.structure.stat().st_size == 0:
        return None
    confidence = read_json_if_complete(files.confidence)
    if confidence is None:
        return None
    if not affinity:
        return confidence, {}
    affinity_values = read_json_if_complete(files.affinity)
    if affinity_values is None:
        return None
    return confidence, affinity_values


def _number(value) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def scores(confidence: dict, affinity: dict) -> dict:
    """The normalized scores of one prediction, including derived affinity units."""
    values = {field: _number(confidence.get(field)) for field in CONFIDENCE_FIELDS}
    for field in AFFINITY_FIELDS + AFFINITY_HEAD_FIELDS:
        values[field] = _number(affinity.get(field))
    log_ic50 = values["affinity_pred_value"]
    if log_ic50 is None:
        return values | dict.fromkeys(DERIVED_FIELDS)
    return values | affinity_units(log_ic50)


def binder_scores(
    confidence: dict, structure: Path, chain: str, binder: int, receptor: list[int]
) -> dict:
    """A binder target's interface scores (omtx_hub.binders): `binder_iptm` from the
    confidence JSON (`binder`, `receptor`: asym ids), the binder `chain`'s per-residue pLDDT
    from the structure's B-factors (Boltz writes pLDDT x 100 there, one value per residue:
    `to_mmcif`, boltz/data/write/mmcif.py) and their mean."""
    import gemmi

    model = gemmi.read_structure(str(structure))[0]
    residues = [round(residue[0].b_iso / 100, 4) for residue in model[chain]]
    return {
        "binder_iptm": pair_iptm(confidence, binder, receptor),
        "binder_plddt": round(sum(residues) / len(residues), 4) if residues else None,
        "binder_residue_plddt": residues,
    }
