"""What the driver asks Ray for, and that it cannot hang silently: per-node capacity, engine
bundles and environment, a placement deadline that names what is pending, a dead recorded
cluster address noticed in seconds. The Ray parts run a real local cluster (no vLLM)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sampler import cluster
from sampler.cluster import SamplerError, check_capacity, engine_bundles, engine_kind, fits

ROOT = Path(__file__).resolve().parent.parent


def node(ip, **res):
    return {"node_id": ip, "ip": ip, "resources": {k: float(v) for k, v in res.items()}}


def test_engine_kind_follows_the_cluster_not_the_local_build():
    assert engine_kind({"CPU": 64.0, "GPU": 8.0}) == "gpu"
    assert engine_kind({"CPU": 64.0}) == "cpu"


def test_engine_bundles():
    assert engine_bundles("cpu", cpus=3) == [{"CPU": 3.0}]
    assert engine_bundles("gpu") == [{"GPU": 1.0, "CPU": 1.0}]
    tp = engine_bundles("gpu", tensor_parallel=4, resources={"a100": 1})
    assert tp[0] == {"GPU": 1.0, "CPU": 1.0, "a100": 1.0} and tp[1:] == [{"GPU": 1.0, "CPU": 1.0}] * 3


def test_capacity_is_counted_per_node():
    two_by_two = [node("10.0.0.1", CPU=16, GPU=2), node("10.0.0.2", CPU=16, GPU=2)]
    tp4 = cluster.engine_demand(engine_bundles("gpu", tensor_parallel=4))
    assert fits(two_by_two[0]["resources"], tp4) == 0
    # 4 GPUs in the cluster, but no node holds a 4-GPU engine: refused, naming the nodes
    with pytest.raises(SamplerError, match=r"10\.0\.0\.1 \{CPU: 16, GPU: 2\}"):
        check_capacity(two_by_two, tp4, 1, "num_engines = 1", "fix")
    tp2 = cluster.engine_demand(engine_bundles("gpu", tensor_parallel=2))
    check_capacity(two_by_two, tp2, 2, "x", "fix")
    with pytest.raises(SamplerError, match="alive nodes hold 2 "):
        check_capacity(two_by_two, tp2, 3, "x", "fix")
    tagged = cluster.engine_demand(engine_bundles("cpu", cpus=1, resources={"node2": 1}))
    check_capacity([node("a", CPU=1), node("b", CPU=2, node2=2)], tagged, 2, "x", "fix")
    with pytest.raises(SamplerError):
        check_capacity([node("a", CPU=8), node("b", CPU=2, node2=2)], tagged, 3, "x", "fix")


def test_cpu_engines_pin_distinct_cores(monkeypatch):
    from sampler.engine import pin_cpu_cores

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    seen = []
    for index in (0, 1):
        monkeypatch.setattr(os, "environ", dict(os.environ))
        pin_cpu_cores(index, 4, kv_cache_gib=3)
        seen.append(os.environ["VLLM_CPU_OMP_THREADS_BIND"])
        assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "3" and os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert seen == ["0,1,2,3", "4,5,6,7"]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, resources={"slot": 1}, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_engine_actors_run_at_normal_priority(local_ray):
    """Ray starts workers at nice 15; an actor with the engine's options and environment runs at
    0, inside its own placement group."""
    from ray.util.placement_group import placement_group, remove_placement_group

    @local_ray.remote
    class Probe:
        def nice(self) -> int:
            return os.getpriority(os.PRIO_PROCESS, 0)

    bundles = engine_bundles("cpu", cpus=1)
    group = placement_group(bundles, strategy="STRICT_PACK")
    local_ray.get(group.ready(), timeout=60)
    try:
        plain = Probe.options(num_cpus=0).remote()
        engine = Probe.options(**cluster.actor_options(bundles, group, cluster.engine_env())).remote()
        assert local_ray.get(plain.nice.remote()) > 0   # what the option undoes
        assert local_ray.get(engine.nice.remote()) == 0
    finally:
        remove_placement_group(group)


def test_an_engine_that_cannot_be_placed_stops_the_run_by_name(local_ray, tmp_path):
    """The node's only `slot` is taken: the engine's placement group stays pending, and the
    deadline names it and what the nodes hold, instead of waiting forever."""
    from sampler.driver import sample

    @local_ray.remote(resources={"slot": 1}, num_cpus=0)
    class Squatter:
        def ping(self):
            return 1

    squatter = Squatter.remote()
    local_ray.get(squatter.ping.remote())
    t0 = time.monotonic()
    try:
        with pytest.raises(SamplerError, match=r"engine-0: its placement group .*still pending after \d+ s .*slot"):
            sample([{"problem_id": "p", "n": 2, "prompt": "x"}], sink=lambda rows: None, model="unused",
                   sampling={"max_tokens": 4}, resources={"slot": 1}, cpus_per_engine=1, placement_timeout=3,
                   progress=False)
    finally:
        local_ray.kill(squatter)
    assert time.monotonic() - t0 < 60
    assert local_ray.util.placement_group_table() and all(
        g["state"] == "REMOVED" for g in local_ray.util.placement_group_table().values()
        if g["name"].startswith("monkeys-engine"))  # its group was given back


def test_a_dead_recorded_cluster_address_is_noticed_in_seconds():
    """`ray start` records its address; after that cluster dies, ray.init() would retry it for
    minutes. connect() checks it first, says so, and starts a fresh local cluster."""
    import shutil
    import socket
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must stay short
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once the socket closes
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{dead}")
    env = dict(os.environ, RAY_TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    env.pop("RAY_ADDRESS", None)
    code = ("from sampler.cluster import connect; import ray; print(connect(local_cpus=1)); "
            "print(ray.cluster_resources().get('CPU'))")
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=170)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["local", "1.0"]
    assert f"127.0.0.1:{dead}" in proc.stdout + proc.stderr and "dead Ray cluster" in proc.stdout
    assert time.monotonic() - t0 < 150
