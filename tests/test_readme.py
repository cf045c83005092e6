"""Every python example in README.md runs and does what it says."""
from pathlib import Path
import re

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


PRINTED = re.search(r"`print\(fit\)` shows.*?\n```\n(.*?)```", README.read_text(), flags=re.S)
NUMBER = re.compile(r"-?\d+(\.\d+)?(e[+-]?\d+)?")


def _layout(text):
    """The printout with every number replaced by '#' and runs of spaces squeezed."""
    return [re.sub(r"\s+", " ", NUMBER.sub("#", line)).strip() for line in text.splitlines()]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    namespace = {}
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), namespace)
    if index == 0:      # the printout shown under the first example has today's layout
        assert _layout(capsys.readouterr().out) == _layout(PRINTED.group(1))
    if "state_effects" in namespace:
        assert namespace["state_effects"].shape == (4, 4000, 44)
        assert list(namespace["table"].columns) == [
            "mean", "mcse_mean", "sd", "2.5%", "50%", "97.5%", "ess_bulk", "ess_tail", "r_hat"]


def test_readme_has_examples():
    assert BLOCKS
