import numpy as np
import pytest

import subq


@pytest.fixture(params=["scalar", None], ids=["scalar", "best"])
def ctx(request):
    """Each test runs on the scalar reference path and the host's best path, 2 threads."""
    with subq.Context(threads=2, isa=request.param) as c:
        yield c


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
