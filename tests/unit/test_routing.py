"""The stored-shard routing rule, matched the way Snakemake matches the manifest's path."""

import re

from snakemake.io import regex_from_filepattern, update_wildcard_constraints

from omtx_hub.layout import MANIFEST
from omtx_hub.routing import stored_shard_constraint

GLOBAL_CONSTRAINTS = {"screen": "s1", "protein": "P1|P2", "shard": r"\d{5}"}


def assembled_from_store(stored: list[tuple[str, str]], path: str) -> bool:
    pattern = update_wildcard_constraints(
        MANIFEST, {"shard": stored_shard_constraint(stored)}, GLOBAL_CONSTRAINTS
    )
    return re.match(regex_from_filepattern(pattern), path) is not None


def test_only_the_stored_shards_of_each_protein_match():
    stored = [("P1", "00000"), ("P1", "00002"), ("P2", "00001")]
    matched = {
        (protein, shard)
        for protein in ("P1", "P2")
        for shard in ("00000", "00001", "00002")
        if assembled_from_store(stored, f"results/s1/shards/{protein}/{shard}.json")
    }
    assert matched == set(stored)


def test_no_stored_shard_matches_nothing():
    assert not assembled_from_store([], "results/s1/shards/P1/00000.json")


def test_a_protein_name_is_matched_whole():
    # P1's shard must not be taken for a protein whose name ends in "P1".
    stored = [("P1", "00000")]
    pattern = update_wildcard_constraints(
        MANIFEST, {"shard": stored_shard_constraint(stored)}, {"protein": "XP1|P1"}
    )
    regex = regex_from_filepattern(pattern)
    assert re.match(regex, "results/s1/shards/P1/00000.json")
    assert not re.match(regex, "results/s1/shards/XP1/00000.json")
