"""A one-node Slurm cluster on 127.0.0.1 for tests: Debian's slurm-wlm 22.05 and munge
(`make slurm` installs them), every config, key, socket, spool, state and log file under one
directory, its daemons started and ended by their own process ids.

Two partitions on the one node: `cpu` (the default) and `gpu`. The node declares one GPU
as a count-only generic resource (no device file: there is no GPU here), so a job asking
for a GPU is accepted and its request can be read back with `scontrol show job`; the `gpu`
partition is DOWN, so such a job waits there and never starts on a machine without a GPU.
The node declares more CPUs and memory than this machine has (`config_overrides`), enough for
the profile's requests (4 CPUs, 16 GB per attempt), which Slurm only books, never enforces
here (no cgroups)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
# munge's default socket: slurmd in configless mode authenticates its config request before it
# has read a config that could name another.
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
# How long a daemon may take to start, a node to be idle, a job to show up or end.
STARTUP_S = 60


def missing_programs() -> list[str]:
    return [name for name in DAEMONS if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class SlurmCluster:
    root: Path
    node: str

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def env(self) -> dict[str, str]:
        """os.environ with this cluster's slurm.conf, for Slurm's commands and Snakemake."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *arguments: str, check: bool = True) -> str:
        """Run a Slurm command (sbatch, squeue, scontrol, scancel...) on this cluster; stdout."""
        result = subprocess.run(
            arguments, env=self.env(), capture_output=True, text=True, timeout=STARTUP_S
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(arguments)} failed: {result.stderr}")
        return result.stdout

    def jobs(self) -> list[dict[str, str]]:
        """The jobs squeue lists (running, pending, and finished ones for MinJobAge): id,
        name, state, partition, comment."""
        out = self.command("squeue", "--noheader", "--states=all", "-o", "%i|%j|%T|%P|%k")
        fields = ("id", "name", "state", "partition", "comment")
        return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` of one job as key -> value (Command, TimeLimit, TRES, ...)."""
        out = self.command("scontrol", "show", "job", "--oneliner", job_id)
        return dict(field.split("=", 1) for field in out.split() if "=" in field)

    def freeze(self, job_id: str) -> None:
        """Stop every process of a running job (SIGSTOP), as a hung job stops: Slurm still
        counts its time, so its time limit ends it."""
        listed = self.command("scontrol", "listpids", job_id).splitlines()[1:]
        for pid in {int(line.split()[0]) for line in listed}:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def job_processes(self) -> set[int]:
        """The pids of every running job's processes and of their children."""
        running = self.command("squeue", "--noheader", "--states=RUNNING", "-o", "%i", check=False)
        pids = set()
        for job_id in running.split():
            listed = self.command("scontrol", "listpids", job_id, check=False).splitlines()[1:]
            pids |= {int(line.split()[0]) for line in listed if line.split()}
        return pids | _descendants(pids)

    def wait_for(self, what: str, condition, timeout: float = STARTUP_S):
        """Poll `condition()` until it returns something true; that value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _config(root: Path, node: str, port: int, cpus: int, memory_mb: int) -> str:
    return f"""\
ClusterName=omtx
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort={port}
SlurmdPort={free_port()}
# A job's processes by process group (no cgroups here): a child that outlives its parent
# (Boltz, when scancel's SIGTERM ends the job's Snakemake first) is still the job's and is killed.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
# slurmd fetches this config from slurmctld and caches it where a job's own Slurm commands find
# it (/run/slurm/conf): the Slurm plugin's job step drops SLURM_CONF before its `srun`.
SlurmctldParameters=enable_configless
MpiDefault=none
ReturnToService=2
# Finished jobs stay listed by squeue (the plugin's status command here: no accounting).
MinJobAge=600
# A job past its time limit is killed within seconds.
KillWait=2
OverTimeLimit=0
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={node} MaxTime=INFINITE State=DOWN
"""


def _pid(pid_file: Path) -> int | None:
    with suppress(FileNotFoundError, ValueError):
        return int(pid_file.read_text().split()[0])
    return None


def _descendants(pids: set[int]) -> set[int]:
    """Every process whose parent, or its parent's parent..., is one of `pids`."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = set(), set(pids)
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, ended but not yet reaped by init, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _end(pid: int | None) -> None:
    """End a daemon by its pid: SIGTERM, then SIGKILL if it is still there after 10 s."""
    if pid is None or not _running(pid):
        return
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def one_node_cluster(root: Path, cpus: int = 8, memory_mb: int = 128000):
    """Start munged, slurmctld and slurmd with everything under `root`; the cluster, its node
    idle. On leaving: every job cancelled, then the daemons ended by their pids."""
    node = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "run", "log", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    port = free_port()
    (root / "slurm.conf").write_text(_config(root, node, port, cpus, memory_mb))
    (root / "cgroup.conf").write_text("")  # none: no cgroups here
    (root / "gres.conf").write_text(f"NodeName={node} Name=gpu File=/dev/null Count=1\n")
    cluster = SlurmCluster(root, node)
    pid_files = [root / "munge" / "munged.pid", root / "run/slurmctld.pid", root / "run/slurmd.pid"]
    try:
        munge = root / "munge"
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "munged",
                "--force",
                f"--socket={MUNGE_SOCKET}",
                f"--key-file={key}",
                f"--pid-file={munge}/munged.pid",
                f"--log-file={munge}/munged.log",
                f"--seed-file={munge}/munged.seed",
            ],
            check=True,
            timeout=STARTUP_S,
        )
        subprocess.run(["slurmctld", "-f", str(cluster.conf)], env=cluster.env(), check=True)
        subprocess.run(
            ["slurmd", "--conf-server", f"127.0.0.1:{port}"], env=cluster.env(), check=True
        )
        cluster.wait_for(
            f"node {node} idle (logs in {root / 'log'})",
            lambda: (
                "idle"
                in cluster.command("sinfo", "--noheader", "-p", "cpu", "-o", "%T", check=False)
            ),
        )
        yield cluster
    finally:
        if (root / "run/slurmctld.pid").exists():
            left = cluster.job_processes()
            cluster.command("scancel", "--full", "--user", "root", check=False)
            with suppress(AssertionError):
                cluster.wait_for(
                    "every job to end",
                    lambda: (
                        not cluster.command(
                            "squeue", "--noheader", "--states=RUNNING,COMPLETING", check=False
                        ).strip()
                    ),
                    timeout=20,
                )
            for pid in left:
                _end(pid)
        for pid_file in reversed(pid_files):
            _end(_pid(pid_file))
