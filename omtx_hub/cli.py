"""`omtx-hub`: the project's command line (demo runs, test caches)."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from omtx_hub.testcache import build_test_cache

TEST_CACHE = Path(".cache/boltz-test")
TEST_WEIGHTS_CONFIG = "config/test-weights.yaml"


def released_weights_reachable(cache: Path, timeout_s: float = 5.0) -> bool:
    """Whether Boltz already has, or can download, the released Boltz-2 weights."""
    if (cache / "boltz2_conf.ckpt").is_file() and (cache / "boltz2_aff.ckpt").is_file():
        return True
    from boltz.main import BOLTZ2_URL_WITH_FALLBACK

    for url in BOLTZ2_URL_WITH_FALLBACK:
        host = urlparse(url).hostname
        try:
            socket.create_connection((host, 443), timeout=timeout_s).close()
            return True
        except OSError:
            continue
    return False


def demo(arguments: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local"]
    weights = arguments.weights
    if weights == "auto":
        reachable = released_weights_reachable(Path("~/.boltz").expanduser())
        weights = "released" if reachable else "test"
        if not reachable:
            print(
                "\n*** The released Boltz-2 weights cannot be downloaded from this machine. ***\n"
                f"*** Running the demo with RANDOM test weights ({TEST_CACHE}); every result "
                "is flagged released_weights=false and its scores mean nothing. ***\n",
                file=sys.stderr,
            )
    if weights == "test":
        build_test_cache(TEST_CACHE)
        command += ["--configfile", TEST_WEIGHTS_CONFIG]
    command += arguments.snakemake_args
    print("+", " ".join(command), file=sys.stderr)
    return subprocess.call(command)


def make_test_cache(arguments: argparse.Namespace) -> int:
    path = build_test_cache(arguments.directory, full_size=arguments.full_size)
    print(f"test cache with random weights ready in {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omtx-hub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo_parser = commands.add_parser(
        "demo", help="run the demo screen (config/config.yaml) with the local profile"
    )
    demo_parser.add_argument(
        "--weights",
        choices=["auto", "released", "test"],
        default="auto",
        help="'released' Boltz-2 weights (downloaded on first use), 'test' random weights "
        "from a generated cache, or 'auto': released when they can be had, else test",
    )
    demo_parser.add_argument(
        "snakemake_args", nargs=argparse.REMAINDER, help="extra snakemake arguments"
    )
    demo_parser.set_defaults(run=demo)

    cache_parser = commands.add_parser(
        "make-test-cache", help="generate a Boltz cache with random weights (offline testing)"
    )
    cache_parser.add_argument("directory", type=Path)
    cache_parser.add_argument("--full-size", action="store_true")
    cache_parser.set_defaults(run=make_test_cache)

    arguments = parser.parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
