"""Real Ray nodes on this machine for the cluster tests: started with `ray start`, stopped by pid.

Each node gets the loopback address 127.0.0.2: Ray turns 127.0.0.1 into the machine's network
address (so that other machines could reach it), and any other address in 127.0.0.0/8 is
kept as given, so every byte between the nodes stays on loopback. The installed Ray turns on
token authentication; the head writes the token file and every later `ray` command (a second
node, `ray job submit`) needs RAY_AUTH_MODE=token to use it.

A node's processes are what its `ray start` left running (daemons naming the session directory or
the GCS address in their command lines, new since the start) plus, when it is stopped, every descendant of those
(agents, workers, an engine's subprocesses, sandboxes), so stopping one node never touches
the other or anything else on the machine. `ray stop` is never used: it stops every Ray
process of the user.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
NODE_IP = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command line) for every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if state != "Z":
            out[int(entry)] = (ppid, cmd)
    return out


def descendants(roots: set[int], table: dict | None = None) -> set[int]:
    table = _processes() if table is None else table
    found, frontier = set(roots) & set(table), set(roots)
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


class Node:
    """One `ray start`ed node; `stop()` kills its processes and their descendants by pid."""

    def __init__(self, args: list[str], env: dict, markers: tuple[str, ...]):
        self.args, self.env, self.markers = args, env, markers
        self.roots: set[int] = set()

    def start(self) -> "Node":
        before = set(_processes())
        proc = subprocess.run([RAY, "start", *self.args], capture_output=True, text=True, env=self.env, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(self.args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        table = _processes()
        # What `ray start` daemonised (raylet, log monitor; GCS and dashboard on the head) has
        # parent 1; the other node's workers also name the session directory but are its raylet's.
        self.roots = {pid for pid, (ppid, cmd) in table.items()
                      if pid not in before and ppid == 1 and any(m in cmd for m in self.markers)}
        if not self.roots:
            raise RuntimeError("ray start left no process behind")
        return self

    def pids(self) -> set[int]:
        return descendants(self.roots)

    def stop(self) -> set[int]:
        """SIGKILL the node's processes and all their descendants; returns the pids killed."""
        killed: set[int] = set()
        for _ in range(3):   # a process forked while we walked is caught on the next pass
            pids = self.pids() - killed
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed |= pids
            time.sleep(0.5)
        return killed


def _agent_port() -> list[str]:
    """Every node's dashboard agent listens on 52365 unless told otherwise; two nodes on one
    address would race for it, and a head whose agent lost cannot take jobs ("No available
    agent to submit job"). Each node gets its own free port."""
    return ["--dashboard-agent-listen-port", str(free_port())]


def start_cluster(temp_dir: Path, head_cpus: int, nodes: list[dict]) -> dict:
    """A head (dashboard on 127.0.0.1 for the job API) and worker nodes, each
    {"cpus": int, "resources": dict}. Returns {"head", "workers", "gcs", "dashboard", "env"}."""
    import json

    env = dict(os.environ, RAY_AUTH_MODE="token")
    env.pop("RAY_ADDRESS", None)
    gcs, dash = free_port(), free_port()
    # The session directory names most daemons; the head's Ray client server names only the
    # GCS address.
    session_marker = (str(temp_dir), f"{NODE_IP}:{gcs}")
    head = Node(["--head", "--node-ip-address", NODE_IP, "--port", str(gcs), "--dashboard-host", "127.0.0.1",
                 "--dashboard-port", str(dash), "--include-dashboard", "true", "--num-cpus", str(head_cpus),
                 "--disable-usage-stats", "--temp-dir", str(temp_dir), *_agent_port()], env, session_marker).start()
    workers = []
    try:
        for spec in nodes:
            workers.append(Node(["--address", f"{NODE_IP}:{gcs}", "--node-ip-address", NODE_IP,
                                 "--num-cpus", str(spec["cpus"]), "--resources", json.dumps(spec.get("resources", {})),
                                 "--disable-usage-stats", *_agent_port()], env, session_marker).start())
    except Exception:
        for node in workers + [head]:
            node.stop()
        raise
    cluster = {"head": head, "workers": workers, "gcs": f"{NODE_IP}:{gcs}", "dashboard": f"http://127.0.0.1:{dash}",
               "env": env}
    try:
        wait_for_job_agent(cluster)
    except Exception:
        stop_cluster(cluster)
        raise
    return cluster


def wait_for_job_agent(cluster: dict, timeout: float = 180.0) -> None:
    """`ray start` can return before the head's dashboard agent has registered, and a job
    submitted in that window is refused ("No available agent to submit job"). Submit a no-op
    job until one is accepted and succeeds, so the tests' own submissions meet a ready job API."""
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run([RAY, "job", "submit", "--address", cluster["dashboard"], "--", sys.executable,
                               "-c", "pass"], capture_output=True, text=True, env=cluster["env"], timeout=timeout)
        if proc.returncode == 0:
            return
        text = proc.stdout + proc.stderr
        if "No available agent" not in text and "Connection refused" not in text or time.monotonic() > deadline:
            raise RuntimeError(f"the job API at {cluster['dashboard']} never accepted a job:\n{text[-2000:]}")
        time.sleep(2)


def stop_cluster(cluster: dict) -> None:
    for node in cluster["workers"] + [cluster["head"]]:
        node.stop()
