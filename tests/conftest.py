"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module: tiny models on a shared 2-core machine run faster and
    give stable results (use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



#: modules whose tests are long and independent of each other (a notebook, a browser page, a
#: Jupyter server each): spread over the xdist workers test by test. Every other module runs
#: on one worker, so that its module-scoped fixtures (a fitted run) are built once.
SPREAD = frozenset({"tests/test_notebooks.py", "tests/view/test_browser.py",
                    "tests/view/test_panels_browser.py", "tests/view/test_explain_panel.py",
                    "tests/view/test_follow.py"})


#: the longest units first (measured with --durations), so that two workers end together
#: rather than one waiting for the other's last long test
LONGEST_FIRST = ("tests/engine/test_fit_quality.py", "tests/view/test_panels_browser.py",
                 "tests/view/test_browser.py", "tests/test_notebooks.py",
                 "tests/view/test_explain_panel.py", "tests/view/test_follow.py",
                 "tests/engine/test_complex.py", "tests/engine/test_distributed.py",
                 "tests/engine/test_baselines.py", "tests/engine/test_deepview.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest modules first (a stable sort: order within a module is kept)."""
    rank = {module: k for k, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def _make_scheduler(config: pytest.Config, log: object) -> object:
    """The test command's scheduling on two processes (``pytest -n 2``, scripts/test.sh): a
    module is one unit of work, except the modules of :data:`SPREAD`, whose tests are units of
    their own. (xdist's ``--dist loadgroup`` would say this with marks, but under pytest 9 its
    group suffix never reaches the node ids, so every test became its own unit.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndSpreadTests(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module in SPREAD else module

    return ModulesAndSpreadTests(config, log)


try:  # the hook exists only with pytest-xdist installed (the dev extra has it)
    import xdist  # noqa: F401
except ImportError:
    pass
else:
    pytest_xdist_make_scheduler = _make_scheduler
