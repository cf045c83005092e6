"""Run a function in a forked child process (the fork start method, as os.fork gives
it: the parent's threads do not exist in the child)."""
import multiprocessing

import pytest

needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="needs the fork start method")


def result_in_forked_child(target, *args, timeout=120):
    """What ``target(*args, queue)`` puts on ``queue`` in a forked child; the child is
    killed if it has not ended 30 s after that (or after ``timeout`` without a result)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    try:
        return queue.get(timeout=timeout)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
