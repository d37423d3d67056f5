"""Protein MSAs, computed once per protein and shared by every ligand of the screen.

`msa: server` asks the ColabFold MMseqs2 server through Boltz's own client
(`boltz.main.compute_msa`), exactly as `boltz predict --use_msa_server` would, but once per
protein instead of once per ligand. A server that needs credentials gets them from the
environment (omtx_hub.credentials), never from the config.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from omtx_hub.credentials import MsaCredentials

log = logging.getLogger(__name__)


def fetch_server_msa(
    protein: str,
    sequence: str,
    output: Path,
    *,
    server_url: str,
    pairing_strategy: str,
    credentials: MsaCredentials,
) -> None:
    from boltz.main import compute_msa

    log.info("MSA of %s from %s (%s)", protein, server_url, credentials.describe())
    with tempfile.TemporaryDirectory(prefix=f"omtx-msa-{protein}-") as scratch:
        compute_msa(
            {protein: sequence},
            protein,
            Path(scratch),
            server_url,
            pairing_strategy,
            **credentials.compute_msa_arguments(),
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(Path(scratch) / f"{protein}.csv", output)
