"""The README's Python API block names only things that exist: every ``from repspace... import``
line imports, and every ``repspace.<name>`` is a public attribute of the package."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import repspace

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", README.read_text(), re.S))


def test_readme_imports_resolve() -> None:
    lines = re.findall(r"^from (repspace[\w.]*) import ([\w, ]+)", _python_blocks(), re.M)
    assert lines, "the README has no repspace imports to check"
    for module, names in lines:
        mod = importlib.import_module(module)
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(mod, name), f"README: {module} has no {name}"


def test_readme_package_attributes_exist() -> None:
    code = re.sub(r"^from repspace.*$", "", _python_blocks(), flags=re.M)
    names = set(re.findall(r"\brepspace\.([A-Za-z_]\w*)", code))
    assert {"encode", "Space", "Index"} <= names
    for name in sorted(names):
        assert name in repspace.__all__ and getattr(repspace, name) is not None, name
