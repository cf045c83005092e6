"""Shared fixtures. Statistical tolerances: see tests/stats.py."""
import os
import signal

import numpy as np
import pytest

TEST_SEED = int(os.environ.get("FASTGIBBS_TEST_SEED", "42"))

# A test run started in the background of a non-interactive shell (`cmd &`, as some CI
# runners do) inherits an ignored SIGINT, which Python then leaves ignored: Ctrl-C and
# _thread.interrupt_main() would do nothing, here and in the subprocesses the Ctrl-C
# tests start. Restore Python's own handler (a handler, unlike SIG_IGN, is reset to the
# default in a child at exec, where Python installs its handler again).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def rng():
    """A fresh Generator; the seed comes from FASTGIBBS_TEST_SEED (default 42)."""
    return np.random.default_rng(TEST_SEED)
