"""The front end's own checks, run by the test command: ESLint over ``js/`` (flat config
``js/eslint.config.js``) and the unit tests of the pure JS modules (``js/test/``, node's built-in
``node --test``). Skipped only where node or ``js/node_modules`` is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH"),
    pytest.mark.skipif(not (JS / "node_modules" / "eslint").exists(),
                       reason="js/node_modules has no eslint (run `cd js && npm ci`)"),
]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=JS, capture_output=True, text=True, timeout=300)


def test_eslint_finds_no_problem_in_the_front_end():
    proc = _run("node", "node_modules/eslint/bin/eslint.js", "--max-warnings=0", ".")
    assert proc.returncode == 0, f"eslint:\n{proc.stdout}\n{proc.stderr}"


def test_pure_js_modules_pass_their_unit_tests():
    tests = sorted(str(p.relative_to(JS)) for p in (JS / "test").glob("*.test.js"))
    assert len(tests) >= 4, tests  # codecs, colors, columns, explain/format
    proc = _run("node", "--test", *tests)
    assert proc.returncode == 0, f"node --test:\n{proc.stdout}\n{proc.stderr}"
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout
