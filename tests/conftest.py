import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    return Path(os.environ.get("MONKEYS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def data_file():
    def find(rel: str) -> Path:
        path = shared_data() / rel
        if not path.is_file():
            pytest.skip(f"{path} not found; set MONKEYS_SHARED_DATA to the shared data directory")
        return path
    return find


def has_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # no torch, or a broken CUDA install: no GPU to test on
        return False


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` skip, saying why, on machines without a GPU."""
    if has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a GPU (torch.cuda.is_available() is false here); run it on a GPU machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
