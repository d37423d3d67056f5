"""`omtx-hub`: the project's command line (demo runs, cost estimates, status, store checks,
test caches)."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from omtx_hub.config import WORKFLOW_CONFIG

TEST_CACHE = Path(".cache/boltz-test")
TEST_WEIGHTS_CONFIG = "config/test-weights.yaml"
# The demo screen is config/config.yaml with these triage rules (triage is off by default).
DEMO_TRIAGE_CONFIG = "config/demo-triage.yaml"


def released_weights_reachable(cache: Path, timeout_s: float = 5.0) -> bool:
    """Whether the cache already has, or the run can download, the released Boltz-2 weights
    (from Boltz's hosts or the mirror in OMTX_BOLTZ_WEIGHTS_URL)."""
    from omtx_hub.boltz_cache import AFFINITY_CHECKPOINT, STRUCTURE_CHECKPOINT
    from omtx_hub.weights import download_sources

    if (cache / STRUCTURE_CHECKPOINT).is_file() and (cache / AFFINITY_CHECKPOINT).is_file():
        return True

    for url in download_sources(STRUCTURE_CHECKPOINT):
        address = urlparse(url)
        port = address.port or (443 if address.scheme == "https" else 80)
        try:
            socket.create_connection((address.hostname, port), timeout=timeout_s).close()
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
    configfiles = [DEMO_TRIAGE_CONFIG]
    if weights == "test":
        from omtx_hub.testing.testcache import build_test_cache

        build_test_cache(TEST_CACHE)
        configfiles.append(TEST_WEIGHTS_CONFIG)
    command += ["--configfile", *configfiles]
    command += arguments.snakemake_args
    print("+", " ".join(command), file=sys.stderr)
    # google-api-core warns about Python 3.11's end of support on every import.
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}
    return subprocess.call(command, env=env)


def _screen_plan(configfiles: list[str]):
    """(plan, store) of the screen the config files describe, merged as snakemake does."""
    from omtx_hub.config import load_config
    from omtx_hub.config_files import merged_config_files
    from omtx_hub.plan import build_plan
    from omtx_hub.store import open_store

    config = load_config(merged_config_files(configfiles))
    store = open_store(config.store)
    return build_plan(config, store), store


def estimate_cost(arguments: argparse.Namespace) -> int:
    """Print what the pending work of a screen costs; exit 1 if it is over cost.budget_usd."""
    from omtx_hub.config import ConfigError
    from omtx_hub.cost import check_budget, estimate
    from omtx_hub.store import StoreError

    try:
        plan, store = _screen_plan(arguments.configfile)
        config = plan.config
        pending = estimate(plan, plan.stored_keys(store))
        print(pending.describe(config.cost))
        check_budget(pending, config.cost)
    except (ConfigError, StoreError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def show_status(arguments: argparse.Namespace) -> int:
    """Print done / failed / pending per shard (and target), rate, ETA and cost so far."""
    from omtx_hub.config import ConfigError
    from omtx_hub.progress import planned_screen, screen_progress, status_text
    from omtx_hub.store import StoreError

    try:
        plan, store, results = planned_screen(arguments.configfile, arguments.outputs)
    except (ConfigError, StoreError) as error:
        print(error, file=sys.stderr)
        return 1
    progress = screen_progress(plan, store, results, window_s=arguments.window_min * 60)
    print(status_text(progress, plan, all_shards=arguments.all_shards, targets=arguments.targets))
    return 0


# How `store verify` counts each kind of sealed object.
OBJECT_COUNTS = {
    "failure record": "failure records",
    "validated sheet": "validated sheets",
    "validated molecules": "parts of the validated molecules",
    "server MSA": "server MSAs",
    "pose triage": "pose checks of targets",
    "molecule chemistry": "parts of the molecules' chemistry",
}


def _moved_aside(move, *arguments) -> bool:
    """`move(*arguments)` (a quarantine), saying where it went or why it could not go."""
    from omtx_hub.store import StoreError

    try:
        print(f"    moved to {move(*arguments)}")
    except (OSError, StoreError) as error:
        print(f"    NOT MOVED: {error}")
        return False
    return True


def verify_store(arguments: argparse.Namespace) -> int:
    """Check every entry and object of a result store against its seal; list (and move
    aside) the damaged ones. Exit 1 while damage remains in the store."""
    from omtx_hub.store import (
        LEGACY_OBJECTS,
        LocalStore,
        StoreError,
        inspect_all,
        inspect_all_objects,
        open_store,
    )
    from omtx_hub.store_layout import OBJECT_KINDS, STORE_DIRS, object_path

    try:
        store = open_store(arguments.store)
        if isinstance(store, LocalStore) and not store.root.is_dir():
            print(f"no result store at {store.root}: no such directory", file=sys.stderr)
            return 1
        if not store.is_store():
            print(
                f"no result store at {store.location}: it has none of a store's folders "
                f"({', '.join(f'{d}/' for d in STORE_DIRS)}); give the directory or gs:// "
                "prefix that the config key 'store' names",
                file=sys.stderr,
            )
            return 1
        entries = inspect_all(store)
        objects = inspect_all_objects(store)
    except StoreError as error:
        print(error, file=sys.stderr)
        return 1
    quarantine = arguments.quarantine
    remaining = 0
    for key, found in entries.items():
        if not found.sound:
            print(f"BAD {key}: " + "; ".join(map(str, found.problems)))
            moved = quarantine and _moved_aside(store.quarantine, key, found.problems)
            remaining += not moved
    for (kind, key), found in objects.items():
        if found.problems:
            print(f"BAD {kind} {object_path(kind, key)}: " + "; ".join(map(str, found.problems)))
            moved = quarantine and _moved_aside(store.quarantine_object, kind, key, found)
            remaining += not moved
    bad = sum(not found.sound for found in entries.values())
    legacy = sum(found.legacy for found in entries.values())
    print(
        f"{len(entries)} entries in {store.location}: "
        f"{len(entries) - bad - legacy} sound, {bad} bad"
        + (f", {legacy} legacy (written before entries were sealed; not checked)" if legacy else "")
    )
    for kind in OBJECT_KINDS:
        found = [inspection for (of, _), inspection in objects.items() if of == kind]
        if not found:
            continue
        damaged = sum(bool(inspection.problems) for inspection in found)
        unsealed = sum(inspection.legacy for inspection in found)
        use = "served as they are" if kind in LEGACY_OBJECTS else "computed again when needed"
        print(
            f"{len(found)} {OBJECT_COUNTS[kind]}: {len(found) - damaged - unsealed} sound, "
            f"{damaged} bad"
            + (
                f", {unsealed} unsealed (written before objects were sealed: {use})"
                if unsealed
                else ""
            )
        )
    damaged = bad + sum(bool(found.problems) for found in objects.values())
    if damaged and quarantine:
        print(
            f"{damaged - remaining} of {damaged} damaged moved to the store's quarantine/: they "
            "are computed again"
            + (f"; {remaining} could not be moved (NOT MOVED above)" if remaining else "")
        )
    return 1 if remaining else 0


def purchase_list(arguments: argparse.Namespace) -> int:
    from omtx_hub.purchase import PurchaseListError, copy_purchase_list

    try:
        copied = copy_purchase_list(arguments.screen_dir, arguments.out, arguments.selected)
    except PurchaseListError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{copied.rows} targets, {copied.copied} structures: {copied.list_path}")
    if copied.missing:
        print(
            f"{len(copied.missing)} structures are not in {arguments.screen_dir}: "
            + ", ".join(copied.missing),
            file=sys.stderr,
        )
    return 0


def make_test_cache(arguments: argparse.Namespace) -> int:
    from omtx_hub.testing.testcache import build_test_cache

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

    estimate_parser = commands.add_parser(
        "estimate",
        help="GPU time and cost of a screen's pending work (targets not in the result store), "
        "against cost.budget_usd; run it where you run snakemake",
    )
    estimate_parser.add_argument(
        "--configfile",
        action="append",
        default=[],
        help=f"screen config(s), merged over {WORKFLOW_CONFIG} as snakemake does",
    )
    estimate_parser.set_defaults(run=estimate_cost)

    status_parser = commands.add_parser(
        "status",
        help="where a running (or finished) screen stands: done / failed / pending targets "
        "per shard, rate, ETA, cost so far; reads the result store, safe during a run",
    )
    status_parser.add_argument(
        "--configfile",
        action="append",
        default=[],
        help=f"screen config(s), merged over {WORKFLOW_CONFIG} as snakemake does",
    )
    status_parser.add_argument(
        "--outputs",
        default=".",
        help="where the run's outputs (results/<screen>/shards/) are: '.' for a local run, "
        "the profile's default-storage-prefix (gs://BUCKET/omtx-hub) for Google Batch",
    )
    status_parser.add_argument(
        "--window-min", type=float, default=15, help="the rate is measured over this window"
    )
    status_parser.add_argument("--all-shards", action="store_true", help="list finished shards too")
    status_parser.add_argument("--targets", action="store_true", help="list every target")
    status_parser.set_defaults(run=show_status)

    store_parser = commands.add_parser("store", help="result store maintenance")
    store_commands = store_parser.add_subparsers(dest="store_command", required=True)
    verify_parser = store_commands.add_parser(
        "verify",
        help="read every entry and object of a result store and check it against its seal "
        "(the sha256 and size recorded when it was written, its kind and key); list the "
        "damaged ones (exit 1 while any remain)",
    )
    verify_parser.add_argument("store", help="the store: a directory or gs://BUCKET/PREFIX")
    verify_parser.add_argument(
        "--quarantine",
        action="store_true",
        help="move damaged entries and objects aside, under quarantine/ in the store, so "
        "that they are computed again",
    )
    verify_parser.set_defaults(run=verify_store)

    purchase_parser = commands.add_parser(
        "purchase-list",
        help="copy a purchase list and its structures into a folder: the screen's "
        "purchase_list.csv (triage rules) or the dashboard's export of ticked targets",
    )
    purchase_parser.add_argument(
        "screen_dir", type=Path, help="the screen's results directory, results/<screen>"
    )
    purchase_parser.add_argument(
        "--selected",
        type=Path,
        help="the CSV the dashboard's 'Export purchase list' downloaded (default: the "
        "screen's purchase_list.csv, written from the config's triage rules)",
    )
    purchase_parser.add_argument(
        "--out", type=Path, required=True, help="the folder to write (created if needed)"
    )
    purchase_parser.set_defaults(run=purchase_list)

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
