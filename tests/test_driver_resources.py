"""What the driver asks Ray for: cores per CPU engine, GPUs per engine, TP placement groups,
and a clear refusal when the cluster cannot hold the engines asked for."""
import os

import pytest

from sampler.driver import SamplerError, actor_options, check_resources, cpu_env, tp_bundles


def test_cpu_engines_get_disjoint_cores_and_their_settings():
    a = actor_options(0, 2, cpu=True, total_cpus=8, kv_cache_gib=3)
    b = actor_options(1, 2, cpu=True, total_cpus=8, kv_cache_gib=3)
    assert a["num_cpus"] == b["num_cpus"] == 4
    cores_a = a["runtime_env"]["env_vars"]["VLLM_CPU_OMP_THREADS_BIND"].split(",")
    cores_b = b["runtime_env"]["env_vars"]["VLLM_CPU_OMP_THREADS_BIND"].split(",")
    assert cores_a == ["0", "1", "2", "3"] and cores_b == ["4", "5", "6", "7"]
    assert a["runtime_env"]["env_vars"]["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert cpu_env([0], 2.0)["VLLM_CPU_KVCACHE_SPACE"] == "2"  # vLLM parses whole GiB only


def test_gpu_engines_hold_one_gpu_or_a_placement_group():
    nice = {"runtime_env": {"env_vars": {"RAY_worker_niceness": "0"}}}
    assert actor_options(0, 4, cpu=False) == {"num_cpus": 1, "num_gpus": 1, **nice}
    assert actor_options(0, 2, cpu=False, tensor_parallel=4) == {"num_cpus": 0, "num_gpus": 0, **nice}
    assert tp_bundles(4) == [{"GPU": 1, "CPU": 1}] * 4


def test_engine_actors_run_at_normal_priority():
    """Ray starts workers at nice 15; an engine actor started with our options runs at 0 (real
    local Ray, a probe actor in place of the engine)."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        @ray.remote
        class Probe:
            def nice(self) -> int:
                return os.getpriority(os.PRIO_PROCESS, 0)

        plain = Probe.options(num_cpus=0).remote()
        engine = Probe.options(**actor_options(0, 1, cpu=True, total_cpus=1)).remote()
        assert ray.get(plain.nice.remote()) > 0   # what the option undoes
        assert ray.get(engine.nice.remote()) == 0
    finally:
        if started:
            ray.shutdown()


def test_resource_checks():
    check_resources({"CPU": 2.0}, 2, cpu=True)
    with pytest.raises(SamplerError, match="num_engines = 3 .* has 2"):
        check_resources({"CPU": 2.0}, 3, cpu=True)
    check_resources({"CPU": 64.0, "GPU": 8.0}, 2, cpu=False, tensor_parallel=4)
    with pytest.raises(SamplerError, match="needs 12 GPUs; the Ray cluster has 8"):
        check_resources({"CPU": 64.0, "GPU": 8.0}, 3, cpu=False, tensor_parallel=4)
    with pytest.raises(SamplerError, match="has 0"):
        check_resources({"CPU": 64.0}, 1, cpu=False)


@pytest.mark.parametrize("requested, flags, expected", [
    ("auto", {"avx2", "fma"}, "float32"),                 # AVX2-only x86: bf16 would be emulated
    ("auto", {"avx512f", "avx512_bf16"}, "auto"),         # native bf16: vLLM's choice stands
    ("auto", {"amx_bf16", "amx_tile"}, "auto"),
    ("auto", {"fp", "asimd", "bf16"}, "auto"),            # aarch64 with BF16
    ("bfloat16", {"avx2"}, "bfloat16"),                   # an explicit dtype is never overridden
    ("float16", {"avx2"}, "float16"),
])
def test_engine_dtype_avoids_emulated_bf16(requested, flags, expected):
    from sampler.engine import engine_dtype

    assert engine_dtype(requested, flags) == expected
