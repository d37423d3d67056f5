"""Memory of reading and validating a ligand sheet, per byte of the file.

`limits.sheet_max_bytes` refuses a sheet by its size before it is read; this measures what
reading one costs, to size that default and the advice of its message. For each sheet it
prints the file's size, the peak resident memory of a process that only imports the
validator and of one that also validates the sheet (RDKit on every SMILES), and their
difference per MiB of sheet.

    python benchmarks/sheet_memory.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import sys

from common import ligand_sheet, measure

IMPORT_ONLY = "from omtx_hub.sheet import validate_sheet"
VALIDATE = IMPORT_ONLY + "; import sys; validate_sheet(sys.argv[1], affinity=True)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    arguments = parser.parse_args()
    _, baseline = measure([sys.executable, "-c", IMPORT_ONLY])
    print(f"imports alone: {baseline:.0f} MiB peak")
    print(
        f"{'ligands':>8} {'sheet MiB':>10} {'wall s':>7} {'peak MiB':>9} {'MiB per sheet MiB':>18}"
    )
    for size in arguments.sizes:
        sheet = ligand_sheet(size)
        wall, peak = measure([sys.executable, "-c", VALIDATE, str(sheet)])
        sheet_mib = sheet.stat().st_size / 1024**2
        per_byte = (peak - baseline) / sheet_mib
        print(
            f"{size:>8} {sheet_mib:>10.2f} {wall:>7.1f} {peak:>9.0f} {per_byte:>18.1f}", flush=True
        )


if __name__ == "__main__":
    main()
