"""Packaging: the declared dependencies, the README's commands, and a built wheel's contents."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    return {r.name.lower(): r for r in reqs}


def test_runtime_dependencies_are_declared():
    names = set(_requirements())
    wanted = {"anywidget", "ipywidgets", "traitlets", "numpy", "torch", "pynndescent", "plotly",
              "pandas", "tqdm"}
    assert wanted <= names, f"missing runtime dependencies: {sorted(wanted - names)}"


def test_torch_range_admits_the_pinned_cpu_build():
    # setup.sh installs torch==2.13.0 first; a range excluding it would pull CUDA wheels.
    spec = _requirements()["torch"].specifier
    assert spec.contains("2.13.0"), f"torch requirement {spec} excludes 2.13.0"
    assert _requirements()["ipywidgets"].specifier.contains("8.0.0")
    assert not _requirements()["ipywidgets"].specifier.contains("7.8.0")


def _code_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```(?:bash|sh)?\n(.*?)```", markdown, flags=re.S)]


def test_readme_starts_with_demo_and_test_commands_and_ci_runs_the_test_command():
    blocks = _code_blocks((ROOT / "README.md").read_text())
    assert blocks[:2] == ["bash scripts/demo.sh", "bash scripts/test.sh"], blocks[:2]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in ci
    assert ci[-1] == blocks[1], f".ci/run ends with {ci[-1]!r}, README says {blocks[1]!r}"


def test_scripts_are_valid_bash():
    for name in ("setup.sh", "test.sh", "demo.sh"):
        script = ROOT / "scripts" / name
        assert script.exists(), f"{script} is missing"
        subprocess.run(["bash", "-n", str(script)], check=True)
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)


@pytest.mark.slow
def test_built_wheel_contains_the_front_end_bundle(tmp_path: Path):
    bundle = ROOT / "dvi_widget" / "static" / "widget.js"
    assert bundle.exists(), "dvi_widget/static/widget.js is missing: run bash scripts/setup.sh"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    wheels = list(tmp_path.glob("dvi_widget-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
        assert "dvi_widget/static/widget.js" in names, sorted(names)
        packed = zf.read("dvi_widget/static/widget.js")
    assert packed == bundle.read_bytes()
    assert len(packed) > 10_000, f"bundle is only {len(packed)} bytes"
    must_have = (
        "dvi_widget/__init__.py", "dvi_widget/contract.py", "dvi_widget/engine/fit.py"
    )
    for must in must_have:
        assert must in names
    outside = ("tests/", "js/", "notebooks/")
    stray = [n for n in names if n.startswith(outside) or "node_modules" in n]
    assert not stray, f"wheel contains files outside the package: {stray[:5]}"
