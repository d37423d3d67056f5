"""Which rule makes a shard: a GPU job, or the planning process from the result store.

On Google Batch, a shard whose every target is already in the store needs no GPU: the
main process assembles its manifest and structures from the store (rule
assemble_stored_shard) instead of starting a VM that would only copy them. Snakemake picks
between the two rules by the `shard` wildcard constraint of assemble_stored_shard, built
here from the plan's stored shards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A regular expression that matches nothing: no shard is assembled from the store.
NO_SHARD = "(?!)"


def stored_shard_constraint(stored_shards: Iterable[tuple[str, str]]) -> str:
    """The `shard` wildcard constraint that matches exactly the given (protein, shard) pairs
    in a manifest path (.../shards/{protein}/{shard}.json).

    Shard numbers repeat across proteins, so each protein's shard numbers are accepted only
    after that protein's directory: a lookbehind on "/<protein>/".
    """
    by_protein: dict[str, list[str]] = {}
    for protein, shard in stored_shards:
        by_protein.setdefault(protein, []).append(shard)
    alternatives = [
        f"(?<=/{re.escape(protein)}/)(?:{'|'.join(shards)})"
        for protein, shards in by_protein.items()
    ]
    return "|".join(alternatives) or NO_SHARD
