"""Stand-ins for Chai-1's downloads, so chai_lab 0.6.1's real code path runs offline in tests.

Run inside the Chai-1 environment (`make chai1`), never the project's:

    .chai1/bin/python tests/chai1_standins.py DOWNLOADS_DIR

DOWNLOADS_DIR then holds what chai_lab fetches from Chai's asset server at first use
(chai_lab/utils/paths.py, chai_lab/data/dataset/embeddings/esm.py), and is used as
CHAI_DOWNLOADS_DIR:
- models_v2/{feature_embedding,bond_loss_input_proj,token_embedder,trunk,diffusion_module,
  confidence_head}.pt: TorchScript modules with the methods chai_lab/chai1.py calls,
  `forward_{crop}(**kwargs)` for every crop size, taking the keyword arguments it passes and
  returning the shapes it reads (chai1.py, run_folding_on_context). Their numbers are not a
  model's: atoms are placed on a 4 Å grid (no clashes), plus small shares of the noisy input
  and of each atom's reference conformer position, so that the diffusion noise (hence the
  seed) and the featurisation (hence its random draws) show in the output coordinates.
- esm/traced_sdpa_esm2_t36_3B_UR50D_fp16.pt: `forward(tokens)` -> f16[1, L, 2560].
- conformers_v1.apkl: reference conformers of the 20 standard amino acids and of
  phosphoserine (SEP) in chai_lab's antipickle format (chai_lab/data/sources/rdkit.py), atom
  names from its residue_constants, coordinates 1.5 Å apart on a zigzag line (deterministic,
  not chemistry). Ligands given by SMILES are built by chai_lab's own RDKit call and need no
  entry.
- omtx-hub-stand-ins.txt: says these are stand-ins (omtx_hub.chai1 flags such a screen's
  weights as not released).

The same arguments give the same files. Nothing here imports omtx_hub.
"""

from __future__ import annotations

import argparse
import linecache
import sys
import types
from pathlib import Path

import antipickle
import torch
from chai_lab.chai1 import feature_generators
from chai_lab.data.collate.utils import AVAILABLE_MODEL_SIZES
from chai_lab.data.parsing.structure.residue import ConformerData
from chai_lab.data.residue_constants import residue_atoms
from chai_lab.data.sources.rdkit import _get_adapters
from torch import Tensor, nn

# Hidden sizes of the released model (chai-lab does not state them; taken from a port of its
# weights, josephjojoe/chai-mlx config.py). chai1.py splits TOKEN_PAIR, ATOM and ATOM_PAIR in
# two halves (trunk, structure), so those are twice the size.
SINGLE, PAIR, ATOM, ATOM_PAIR, MSA, TEMPLATE, PLDDT_BINS = 384, 256, 128, 16, 64, 64, 50
PAE_BINS = 64  # chai1.py _bin_centers(0.0, 32.0, 64) and ranking/rank.py require 64
ESM_WIDTH = 2560
GRID_SPACING = 4.0  # Å between neighbouring atoms in the stand-in structure: no clashes
NOISE_SHARE = 0.01  # how much of the noisy coordinates the stand-in denoiser passes through
REFERENCE_SHARE = 0.1  # and of each atom's reference conformer position

# Keyword arguments chai_lab/chai1.py (0.6.1, run_folding_on_context) passes to each module's
# forward_{crop}; feature_embedding gets one per feature generator.
MODULE_KWARGS = {
    "feature_embedding": list(feature_generators),
    "bond_loss_input_proj": ["input"],
    "token_embedder": [
        "token_single_input_feats",
        "token_pair_input_feats",
        "atom_single_input_feats",
        "block_atom_pair_feat",
        "block_atom_pair_mask",
        "block_indices_h",
        "block_indices_w",
        "atom_single_mask",
        "atom_token_indices",
    ],
    "trunk": [
        "token_single_trunk_initial_repr",
        "token_pair_trunk_initial_repr",
        "token_single_trunk_repr",
        "token_pair_trunk_repr",
        "msa_input_feats",
        "msa_mask",
        "template_input_feats",
        "template_input_masks",
        "token_single_mask",
        "token_pair_mask",
    ],
    "diffusion_module": [
        "atom_noised_coords",
        "noise_sigma",
        "token_single_initial_repr",
        "token_pair_initial_repr",
        "token_single_trunk_repr",
        "token_pair_trunk_repr",
        "atom_single_input_feats",
        "atom_block_pair_input_feats",
        "atom_single_mask",
        "atom_block_pair_mask",
        "token_single_mask",
        "block_indices_h",
        "block_indices_w",
        "atom_token_indices",
    ],
    "confidence_head": [
        "token_single_input_repr",
        "token_single_trunk_repr",
        "token_pair_trunk_repr",
        "token_single_mask",
        "atom_single_mask",
        "atom_coords",
        "token_reference_atom_index",
        "atom_token_index",
        "atom_within_token_index",
    ],
}
# The inputs each stand-in's `_run` reads (the rest are accepted and ignored).
RUN_ARGS = {
    "feature_embedding": ["ResidueType", "AtomRefPos", "BlockedAtomPairDistogram", "MSAOneHot"],
    "bond_loss_input_proj": ["input"],
    "token_embedder": ["token_single_input_feats", "token_pair_input_feats"],
    "trunk": ["token_single_trunk_repr", "token_pair_trunk_repr"],
    "diffusion_module": ["atom_noised_coords", "atom_single_input_feats"],
    "confidence_head": ["token_single_mask", "atom_single_mask"],
}


class StandIn(nn.Module):
    """The sizes as attributes: TorchScript reads module attributes, not Python globals."""

    def __init__(self) -> None:
        super().__init__()
        self.single, self.pair, self.atom, self.atom_pair = SINGLE, PAIR, ATOM, ATOM_PAIR
        self.msa, self.template = MSA, TEMPLATE
        self.plddt_bins, self.pae_bins = PLDDT_BINS, PAE_BINS
        self.esm_width, self.grid_spacing = ESM_WIDTH, GRID_SPACING
        self.noise_share, self.reference_share = NOISE_SHARE, REFERENCE_SHARE


class FeatureEmbeddingStandIn(StandIn):
    def _run(
        self,
        ResidueType: Tensor,
        AtomRefPos: Tensor,
        BlockedAtomPairDistogram: Tensor,
        MSAOneHot: Tensor,
    ) -> dict[str, Tensor]:
        b, n = ResidueType.shape[0], ResidueType.shape[1]
        atoms = AtomRefPos.shape[1]
        blocks, q, kv = BlockedAtomPairDistogram.shape[1:4]
        depth = MSAOneHot.shape[1]
        reference = torch.cat([AtomRefPos, torch.zeros(b, atoms, self.atom - 3)], dim=-1)
        return {
            "TOKEN": 0.01 * ResidueType.float().expand(b, n, self.single).contiguous(),
            # chai1.py adds the bond projection into both halves in place: real memory.
            "TOKEN_PAIR": torch.zeros(b, n, n, 2 * self.pair),
            # Both halves (trunk, structure) start with the reference conformer's coordinates.
            "ATOM": torch.cat([reference, reference], dim=-1),
            "ATOM_PAIR": torch.zeros(b, blocks, q, kv, 2 * self.atom_pair),
            "TEMPLATES": torch.zeros(b, 4, n, n, self.template),
            # The real MSA embedding is [b, 16384, n, 64]; a view spares 1 GiB per crop of 256.
            "MSA": torch.zeros(1, 1, 1, self.msa).expand(b, depth, n, self.msa),
        }


class BondLossInputProjStandIn(StandIn):
    def _run(self, input: Tensor) -> Tensor:
        b, n = input.shape[0], input.shape[1]
        return torch.zeros(b, n, n, 2 * self.pair)


class TokenEmbedderStandIn(StandIn):
    def _run(
        self, token_single_input_feats: Tensor, token_pair_input_feats: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        single = token_single_input_feats.float()
        return single, single.clone(), token_pair_input_feats.float().clone()


class TrunkStandIn(StandIn):
    def _run(
        self, token_single_trunk_repr: Tensor, token_pair_trunk_repr: Tensor
    ) -> tuple[Tensor, Tensor]:
        return token_single_trunk_repr.clone(), token_pair_trunk_repr.clone()


class DiffusionModuleStandIn(StandIn):
    def _run(self, atom_noised_coords: Tensor, atom_single_input_feats: Tensor) -> Tensor:
        b, ds, atoms = atom_noised_coords.shape[:3]
        index = torch.arange(atoms)
        grid = torch.stack([index % 16, (index // 16) % 16, index // 256], dim=-1).float()
        grid = self.grid_spacing * (grid - grid.mean(dim=0))
        # Each atom is offset by a share of its reference position, as a model conditions on it.
        reference = atom_single_input_feats[:, :, :3].unsqueeze(1)
        denoised = grid + self.reference_share * reference + self.noise_share * atom_noised_coords
        return denoised.reshape(b * ds, atoms, 3)


class ConfidenceHeadStandIn(StandIn):
    def _run(
        self, token_single_mask: Tensor, atom_single_mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        b, n = token_single_mask.shape
        atoms = atom_single_mask.shape[1]
        # Logits falling with the bin: low expected error, high pLDDT (scores in range).
        pae = -0.1 * torch.arange(self.pae_bins).float().expand(b, n, n, self.pae_bins)
        plddt = 0.1 * torch.arange(self.plddt_bins).float().expand(b, atoms, self.plddt_bins)
        return pae.contiguous(), pae.clone(), plddt.contiguous()


class EsmStandIn(StandIn):
    def forward(self, tokens: Tensor) -> Tensor:
        b, length = tokens.shape
        return 0.01 * tokens.unsqueeze(-1).expand(b, length, self.esm_width).to(torch.float16)


STAND_INS = {
    "feature_embedding": FeatureEmbeddingStandIn,
    "bond_loss_input_proj": BondLossInputProjStandIn,
    "token_embedder": TokenEmbedderStandIn,
    "trunk": TrunkStandIn,
    "diffusion_module": DiffusionModuleStandIn,
    "confidence_head": ConfidenceHeadStandIn,
}


def forwards_source() -> str:
    """Python source of one subclass per stand-in with chai1.py's `forward_{crop}` methods:
    TorchScript compiles from source, and keyword-only signatures cannot be built otherwise."""
    lines = ["import torch", "from torch import Tensor", ""]  # `base`: this module
    for name, stand_in in STAND_INS.items():
        lines.append(f"class {name}(base.{stand_in.__name__}):")
        params = ", ".join(f"{kwarg}: Tensor" for kwarg in MODULE_KWARGS[name])
        call = ", ".join(RUN_ARGS[name])
        for crop in AVAILABLE_MODEL_SIZES:
            lines += [
                "    @torch.jit.export",
                f"    def forward_{crop}(self, {params}):",
                f"        return self._run({call})",
            ]
        lines.append("")
    return "\n".join(lines)


def forwards_module() -> types.ModuleType:
    """The module of forwards_source(), its source held in memory under a fixed file name:
    TorchScript records the source file's name in each saved module, and a temporary file's
    would make every generation's bytes differ."""
    name = "chai1_standin_forwards"
    filename = f"{name}.py"
    source = forwards_source()
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    module.base = sys.modules[__name__]
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def write_models(downloads: Path) -> None:
    (downloads / "models_v2").mkdir(parents=True, exist_ok=True)
    module = forwards_module()
    for name in STAND_INS:
        scripted = torch.jit.script(getattr(module, name)())
        torch.jit.save(scripted, str(downloads / "models_v2" / f"{name}.pt"))
    (downloads / "esm").mkdir(exist_ok=True)
    esm = torch.jit.script(EsmStandIn())
    torch.jit.save(esm, str(downloads / "esm" / "traced_sdpa_esm2_t36_3B_UR50D_fp16.pt"))


ELEMENTS = {"C": 6, "N": 7, "O": 8, "P": 15, "S": 16}
# Phosphoserine, a modified residue (written SER's way plus its phosphate): chai-lab turns a
# cached non-standard residue by a random rotation while it builds features, before it seeds
# (all_atom_residue_tokenizer.py, _get_ref_conformer), so tests use it to check seeding.
MODIFIED_RESIDUES = {"SEP": ["N", "CA", "CB", "OG", "C", "O", "P", "O1P", "O2P", "O3P"]}


def residue_conformers() -> dict[str, ConformerData]:
    amino_acids = {name: atoms for name, atoms in residue_atoms.items() if len(name) == 3}
    conformers = {}
    for residue, names in {**amino_acids, **MODIFIED_RESIDUES}.items():
        # chai-lab rejects an atom at the origin as unresolved (all_atom_residue_tokenizer.py);
        # a zigzag, so that a rotation of the residue shows.
        positions = torch.ones(len(names), 3)
        positions[:, 0] = 1.5 * torch.arange(1, len(names) + 1)
        positions[:, 1] += torch.arange(len(names)) % 2
        conformers[residue] = ConformerData(
            position=positions,
            element=torch.tensor([ELEMENTS[atom[0]] for atom in names], dtype=torch.int),
            charge=torch.zeros(len(names), dtype=torch.int),
            atom_names=list(names),
            bonds=[],
            symmetries=torch.arange(len(names)).unsqueeze(-1),
        )
    return conformers


def write_conformers(downloads: Path) -> None:
    downloads.mkdir(parents=True, exist_ok=True)
    antipickle.dump(
        residue_conformers(), downloads / "conformers_v1.apkl", adapters=_get_adapters()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("downloads", type=Path, help="the folder to use as CHAI_DOWNLOADS_DIR")
    downloads = parser.parse_args().downloads
    write_conformers(downloads)
    write_models(downloads)
    # omtx_hub.chai1.STAND_INS_MARKER: a screen on these weights is flagged as not predictions.
    (downloads / "omtx-hub-stand-ins.txt").write_text(
        "Generated by tests/chai1_standins.py: not Chai-1's weights.\n"
    )


if __name__ == "__main__":
    main()
