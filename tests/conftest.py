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
