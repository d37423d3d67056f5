"""What Boltz makes of a user's MSA file (`msa: path.a3m|path.csv`).

Boltz 2.2.1 uses it only if its first sequence, the query, is the protein's sequence:
otherwise it prints "MSA does not match input sequence, creating dummy" and predicts
single-sequence (`process_msa_features` in boltz/data/feature/featurizerv2.py).
`query_mismatch` reads the query with Boltz's own parsers (boltz/data/parse/a3m.py, csv.py) and
applies Boltz's own comparison, so that a screen is refused before planning instead of silently
run without its MSA (omtx_hub.preflight), and a server's answer is checked the same way.
"""

from __future__ import annotations

from pathlib import Path


def _letter(token_id: int) -> str:
    from boltz.data import const

    name = const.tokens[token_id]
    return "-" if name == "-" else const.prot_token_to_letter.get(name, "X")


def query_mismatch(path: str | Path, sequence: str) -> str | None:
    """Why Boltz 2.2.1 would not use the MSA file at `path` for a chain of `sequence`; None
    when it would.

    The query is read as Boltz reads it (first sequence; lower-case insertions dropped; gaps
    kept as gap tokens) and compared as `process_msa_features` compares it: same length and
    same residue types, except that Boltz also accepts, and overwrites with the chain's own,
    a query that differs only where the chain has an unknown residue (X), or only where the
    chain has MET and the query UNK.
    """
    import numpy as np
    from boltz.data import const
    from boltz.data.parse.a3m import parse_a3m
    from boltz.data.parse.csv import parse_csv

    path = Path(path)
    try:
        parsed = (
            parse_a3m(path, taxonomy=None, max_seqs=1)
            if path.suffix == ".a3m"
            else parse_csv(path, max_seqs=1)
        )
    except KeyError as error:
        return f"it holds {error.args[0]!r}, which is not a residue letter Boltz reads"
    except ValueError as error:  # parse_csv: not the columns `key` and `sequence`
        return str(error)
    if len(parsed.sequences) == 0:
        return "it holds no sequence"
    first = parsed.sequences[0]
    query = parsed.residues[first["res_start"] : first["res_end"]]["res_type"]
    unknown = const.token_ids[const.unk_token["PROTEIN"]]
    chain = np.array([const.token_ids[const.prot_letter_to_token.get(c, "UNK")] for c in sequence])
    if len(chain) == len(query):
        mismatches = np.flatnonzero(chain != query)
        if len(mismatches) == 0:
            return None
        chain_unknown = chain[mismatches] == unknown
        met_as_unknown = (chain[mismatches] == const.token_ids["MET"]) & (
            query[mismatches] == unknown
        )
        if np.all(met_as_unknown) or np.all(chain_unknown):
            return None
        # Name the first difference that is no exception on its own (else the first one).
        real = mismatches[~(chain_unknown | met_as_unknown)]
        first_difference = int(real[0] if len(real) else mismatches[0])
    else:
        shorter = min(len(chain), len(query))
        differing = np.flatnonzero(chain[:shorter] != query[:shorter])
        first_difference = int(differing[0]) if len(differing) else shorter
    position = first_difference + 1
    in_sequence = _letter(chain[first_difference]) if first_difference < len(chain) else "(end)"
    in_query = _letter(query[first_difference]) if first_difference < len(query) else "(end)"
    return (
        f"its first sequence (the query; lower-case insertions removed) differs from the "
        f"protein's sequence at position {position}: {in_query!r} in the MSA, {in_sequence!r} "
        f"in the sequence (query {len(query)} residues, sequence {len(chain)})"
    )


def check_msa_file(path: str | Path, sequence: str, owner: str) -> None:
    """Raise ValueError, worded for the config file, if Boltz would not use this MSA."""
    problem = query_mismatch(path, sequence)
    if problem is not None:
        raise ValueError(
            f"the MSA file '{path}' of {owner} is not an alignment of its "
            f"sequence: {problem}. Boltz would "
            "ignore it and predict single-sequence ('MSA does not match input sequence, "
            "creating dummy'). Give the MSA whose first sequence is this protein's, or "
            "`msa: server`."
        )
