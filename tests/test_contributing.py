"""The worked examples of CONTRIBUTING.md run as written: each section's python blocks, in order."""
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"


def _sections():
    sections, title = {}, None
    for part in re.split(r"^## (.+)$", GUIDE.read_text(), flags=re.M)[1:]:
        if title is None:
            title = part.strip()
            continue
        blocks = re.findall(r"```python\n(.*?)```", part, flags=re.S)
        if blocks:
            sections[title] = blocks
        title = None
    return sections


SECTIONS = _sections()


def test_the_guide_has_its_examples():
    assert {"Add an op", "Write your own autograd Function, PyTorch style", "Add a fused kernel",
            "Add a backend, or a device", "Add a layer"} <= set(SECTIONS)


@pytest.mark.parametrize("title", sorted(SECTIONS))
def test_example_runs(title):
    namespace = {"__name__": f"contributing_{len(title)}"}
    for block in SECTIONS[title]:
        exec(compile(block, f"CONTRIBUTING.md: {title}", "exec"), namespace)
