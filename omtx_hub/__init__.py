"""OMTX-Hub: declarative Boltz-2 virtual screening on Snakemake."""

__version__ = "0.1.0"
