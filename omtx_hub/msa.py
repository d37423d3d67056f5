"""Protein MSAs as a screen states them: each chain's MSA mode and which file Boltz reads.

A chain's `msa` setting is `empty` (single-sequence), `server` (the ColabFold MMseqs2 server,
asked once per receptor: omtx_hub.msa_server) or an .a3m/.csv file (checked against the
sequence before planning: omtx_hub.msa_files). What an MSA is, for the keys, is its content
(omtx_hub.keys).
"""

from __future__ import annotations

from pathlib import Path

from omtx_hub.receptor import ReceptorSpec
from omtx_hub.result_tables import FILE, SERVER, SINGLE_SEQUENCE

# Boltz reads these two formats (boltz/main.py, process_input).
FORMATS = {".a3m": "a3m", ".csv": "csv"}


def mode(msa: str) -> str:
    """The MSA mode of a protein chain's `msa` setting."""
    if msa == "empty":
        return SINGLE_SEQUENCE
    return SERVER if msa == "server" else FILE


def receptor_mode(receptor: ReceptorSpec) -> str:
    """The MSA mode of a receptor's rows: its chains' common mode, else each chain entry's
    as '<first chain id>=<mode>' joined by '; '."""
    modes = {chain.ids[0]: mode(chain.msa) for chain in receptor.msa_chains}
    if len(set(modes.values())) == 1:
        return next(iter(modes.values()))
    return "; ".join(f"{chain}={chain_mode}" for chain, chain_mode in modes.items())


def lacks_msa(receptor: ReceptorSpec) -> bool:
    """Whether a protein chain of the receptor is predicted single-sequence."""
    return any(chain.msa == "empty" for chain in receptor.msa_chains)


def chain_msas(receptor: ReceptorSpec, server_dir: Path | None) -> dict[str, str]:
    """Each protein chain entry's first id -> 'empty', the user's MSA file, or its csv in
    `server_dir` (the fetch_msa output, one csv per chain named by its first id) for
    `msa: server`."""
    msas = {}
    for chain in receptor.msa_chains:
        first = chain.ids[0]
        if chain.msa == "server":
            if server_dir is None:
                raise ValueError(f"chain {first} has msa: server but no server MSA was fetched")
            msas[first] = str(server_dir / f"{first}.csv")
        else:
            msas[first] = chain.msa
    return msas
