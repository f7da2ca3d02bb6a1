"""The cluster path for real: two Ray nodes on this machine, a job submitted with `ray job
submit`, its engine and verify actors on the second node, and that node killed mid-run and
started again.

The head (1 CPU) runs only the job's driver; the second node (2 CPUs and a custom resource
`node2`) is the only place the config lets engines and verify actors go. Once samples are
landing, every process of the second node is SIGKILLed by pid, and the node is started again
a few seconds later. The job must still succeed with exactly problems x n samples and
verdicts, none twice, drawn by a first engine and by its replacement; every sample and the
verify actors must come from second-node processes. Several minutes on 2 CPU cores.
"""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_nodes import RAY, start_cluster, stop_cluster

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.server

PROBLEMS, N = 4, 12
CONFIG = f"""
name = "cluster"
model = "embedded:smollm2-135m-instruct"
seed = 11
[task]
name = "humaneval"
limit = {PROBLEMS}
[sampling]
n = {N}
temperature = 0.8
max_tokens = 64
[engine]
enforce_eager = true
max_model_len = 1024
kv_cache_gib = 1
unit_size = 2
cpus_per_engine = 1
resources = {{node2 = 1}}
flush_seconds = 1
placement_timeout = 400
[verify]
timeout = 5
chunk = 4
workers = 1
resources = {{node2 = 1}}
"""


def raw_rows(folder: Path) -> list[dict]:
    return [r for part in sorted(folder.glob("part-*.parquet")) for r in pq.read_table(part).to_pylist()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from sampler.model import EMBEDDED, resolve_model

    resolve_model(EMBEDDED)  # convert once here, not inside the job
    c = start_cluster(tmp_path_factory.mktemp("ray"), head_cpus=1,
                      nodes=[{"cpus": 2, "resources": {"node2": 2}}])
    try:
        yield c
    finally:
        stop_cluster(c)


def test_job_survives_losing_the_node_its_engine_and_verifier_run_on(cluster, tmp_path):
    node2 = cluster["workers"][0]
    cfg = tmp_path / "cluster.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "run"
    runtime_env = {"env_vars": {"PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}}
    job = subprocess.Popen([RAY, "job", "submit", "--address", cluster["dashboard"], "--runtime-env-json",
                            json.dumps(runtime_env), "--", sys.executable, "-m", "experiments.cli", "run", str(cfg),
                            "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=cluster["env"])
    node2_pids, head_pids = set(), set()
    killed_at = None
    try:
        deadline = time.monotonic() + 1500
        while job.poll() is None and time.monotonic() < deadline:
            node2_pids |= node2.pids()
            head_pids |= cluster["head"].pids()
            stored = len(raw_rows(out / "samples")) if (out / "samples").exists() else 0
            if killed_at is None and 0 < stored < PROBLEMS * N:
                node2_pids |= node2.stop()
                killed_at = stored
                time.sleep(5)
                node2.start()
            time.sleep(1)
        if job.poll() is None:
            job.kill()
            pytest.fail("the job did not finish within 25 minutes")
        log = job.stdout.read()
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, log[-4000:]
    assert "succeeded" in log.lower(), log[-4000:]
    assert killed_at is not None, "the second node was never killed mid-run: no samples landed before the end"

    samples, verdicts = raw_rows(out / "samples"), raw_rows(out / "verdicts")
    want = sorted((f"HumanEval/{p}", i) for p in range(PROBLEMS) for i in range(N))
    assert sorted((r["problem_id"], r["sample_index"]) for r in samples) == want      # all, none twice
    assert sorted((r["problem_id"], r["sample_index"]) for r in verdicts) == want
    engines = {r["engine"] for r in samples}
    assert len(engines) >= 2, engines  # the first engine and its replacement both drew samples
    assert len({r["engine_seed"] for r in samples}) == len(engines)
    for r in samples:
        assert int(r["worker"].rsplit(":", 1)[1]) in node2_pids - head_pids, r["worker"]
    verify_pids = {int(p) for p in re.findall(r"verify actor ready on [^:\s]+:(\d+)", log)}
    assert verify_pids and verify_pids <= node2_pids - head_pids, (verify_pids, log[-3000:])
    assert "lost" in log  # the driver said what happened
    report = json.loads((out / "report.json").read_text())
    assert report["num_problems"] == PROBLEMS and report["samples_per_problem"] == N
