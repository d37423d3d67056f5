"""Protein MSAs, computed once per receptor and shared by every ligand of the screen.

`msa: server` asks the ColabFold MMseqs2 server through Boltz's own client
(`boltz.main.compute_msa`), exactly as `boltz predict --use_msa_server` would, but once per
receptor instead of once per ligand. Boltz sends all of a receptor's chains in one query,
paired across chains (`--msa_pairing_strategy`) when there are several, and writes one csv
per chain whose `key` column pairs rows across chains; so does this. A server that needs
credentials gets them from the environment (omtx_hub.credentials), never from the config.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from omtx_hub.credentials import MsaCredentials
from omtx_hub.receptor import ReceptorSpec

log = logging.getLogger(__name__)


def fetch_server_msa(
    protein: str,
    sequences: dict[str, str],
    output_dir: Path,
    *,
    server_url: str,
    pairing_strategy: str,
    credentials: MsaCredentials,
) -> None:
    """One query for `sequences` (chain id -> sequence); `output_dir`/<chain id>.csv each."""
    from boltz.main import compute_msa

    log.info("MSA of %s from %s (%s)", protein, server_url, credentials.describe())
    with tempfile.TemporaryDirectory(prefix=f"omtx-msa-{protein}-") as scratch:
        compute_msa(
            sequences,
            protein,
            Path(scratch),
            server_url,
            pairing_strategy,
            **credentials.compute_msa_arguments(),
        )
        output_dir.mkdir(parents=True, exist_ok=True)
        for chain in sequences:
            shutil.move(Path(scratch) / f"{chain}.csv", output_dir / f"{chain}.csv")


def chain_msas(receptor: ReceptorSpec, server_dir: Path | None) -> dict[str, str]:
    """Each protein chain entry's first id -> 'empty', the user's MSA file, or its csv in
    `server_dir` (the fetch_msa output) for `msa: server`."""
    msas = {}
    for chain in receptor.chains:
        first = chain.ids[0]
        if chain.msa == "server":
            if server_dir is None:
                raise ValueError(f"chain {first} has msa: server but no server MSA was fetched")
            msas[first] = str(server_dir / f"{first}.csv")
        else:
            msas[first] = chain.msa
    return msas
