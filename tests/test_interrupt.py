"""Ctrl-C stops a fit: every chain notices within about one sweep, fg.fit raises
KeyboardInterrupt within a second, and no chain is left running (the thread backend's
workers are kept, idle, for the next fit) and no worker process is left behind."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    import numpy as np, pandas as pd
    import fastgibbs as fg


    def main():
        rng = np.random.default_rng(0)
        n, J = 20000, 400
        g = rng.integers(0, J, n)
        h = rng.integers(0, 100, n)
        data = pd.DataFrame({"y": rng.normal(size=n) + rng.normal(size=J)[g],
                             "x": rng.normal(size=n), "g": g.astype(str), "h": h.astype(str)})
        model = fg.Model("y ~ x + (1 | g) + (1 | h)", data)
        received = []

        def on_sigint(signum, frame):
            received.append(time.perf_counter())
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, on_sigint)
        print("ready", flush=True)
        try:
            model.sample(chains=4, warmup=200000, draws=10, seed=1, n_jobs=int(sys.argv[1]),
                         backend=sys.argv[2])
        except KeyboardInterrupt:
            print(f"latency {time.perf_counter() - received[0]:.3f}", flush=True)
            cpu = time.process_time()
            time.sleep(0.5)
            print(f"busy {time.process_time() - cpu:.3f}", flush=True)
            import multiprocessing
            print("children", len(multiprocessing.active_children()), flush=True)
            sys.exit(7)
        sys.exit(0)


    if __name__ == "__main__":      # the process backend's workers import this file
        main()
""")


@pytest.mark.parametrize("n_jobs,backend", [(1, "thread"), (2, "thread"), (2, "process")])
def test_ctrl_c_stops_the_fit(tmp_path, n_jobs, backend):
    script = tmp_path / "long_fit.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script), str(n_jobs), backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(3.0 if backend == "process" else 1.5)   # the chains are running
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    elapsed = time.perf_counter() - sent
    assert proc.returncode == 7, (out, err)
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    # from the signal to KeyboardInterrupt out of sample(), chains stopped and joined
    assert float(lines["latency"]) < 1.0, out
    assert elapsed < 10.0, f"the process took {elapsed:.2f} s to exit"
    # no chain left running: a chain would have used ~0.5 s of CPU in that half second
    assert float(lines["busy"]) < 0.1, out
    assert lines["children"].strip() == "0", out              # no worker process left
