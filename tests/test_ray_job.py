"""The cluster path for real: a Ray head on loopback, `ray job submit -- monkeys run ...`.

The head is started by the test (`ray start --head`, dashboard on 127.0.0.1 for the job API)
and stopped afterwards. The job's driver joins that cluster, starts the engine actor there,
and writes the run directory; the test then reads it like any other run. About two minutes on
2 CPU cores.
"""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")
pytestmark = pytest.mark.server

CONFIG = """
name = "job"
model = "embedded:smollm2-135m-instruct"
[task]
name = "humaneval"
limit = 2
[sampling]
n = 2
temperature = 0.8
max_tokens = 48
[engine]
enforce_eager = true
max_model_len = 1024
kv_cache_gib = 1
[verify]
timeout = 5
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    from sampler.model import EMBEDDED, resolve_model

    resolve_model(EMBEDDED)  # convert once here, not inside the job
    tmp = tmp_path_factory.mktemp("ray")
    gcs, dash = _free_port(), _free_port()
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    start = subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
                            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--include-dashboard",
                            "true", "--num-cpus", str(os.cpu_count() or 2), "--disable-usage-stats",
                            "--temp-dir", str(tmp)], capture_output=True, text=True, env=env, timeout=180)
    if start.returncode != 0:
        pytest.fail(f"ray start --head failed:\n{start.stdout[-2000:]}\n{start.stderr[-2000:]}")
    try:
        yield f"http://127.0.0.1:{dash}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_ray_job_submit_runs_an_experiment(head, tmp_path):
    address, env = head
    cfg = tmp_path / "job.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "run"
    runtime_env = {"env_vars": {"PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}}
    cmd = [RAY, "job", "submit", "--address", address, "--runtime-env-json", json.dumps(runtime_env), "--",
           sys.executable, "-m", "experiments.cli", "run", str(cfg), "--out", str(out)]
    deadline = time.monotonic() + 600
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert time.monotonic() < deadline
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in (proc.stdout + proc.stderr).lower()
    rows = [r for p in sorted((out / "samples").glob("part-*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert sorted((r["problem_id"], r["sample_index"]) for r in rows) == [
        (f"HumanEval/{p}", i) for p in (0, 1) for i in range(2)]
    report = json.loads((out / "report.json").read_text())
    assert report["num_problems"] == 2
