"""Operations: monte_carlo_pi's input checks, and more operations by a real entry point."""
from __future__ import annotations

import sys

import pytest

from heaven.gateway.operations import GROUP, MONTE_CARLO_PI, InvalidInput, registry


@pytest.mark.parametrize("iterations", [0, -5, 1.5, "100", True, None, 10**14, float("inf"), float("nan")])
def test_monte_carlo_pi_refuses_what_is_not_a_positive_integer_in_bounds(iterations):
    with pytest.raises(InvalidInput) as refused:
        MONTE_CARLO_PI.size({"iterations": iterations})
    assert refused.value.field == "data.iterations"


def test_monte_carlo_pi_sizes_by_its_iterations():
    assert MONTE_CARLO_PI.size({"iterations": 1000}) == 1000.0
    assert MONTE_CARLO_PI.size({"iterations": 1e10}) == 1e10


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A distribution on sys.path declaring entry points of the group, as `pip install` leaves it."""
    def install(lines: str, module: str) -> None:
        info = tmp_path / "extra_ops-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-ops\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}\n")
        (tmp_path / "extra_ops.py").write_text(module)
        monkeypatch.syspath_prepend(str(tmp_path))
    yield install
    sys.modules.pop("extra_ops", None)


def test_an_entry_point_adds_an_operation_and_a_broken_one_is_left_out(installed):
    installed("shout = extra_ops:shout\nbroken = extra_ops:missing\nmonte_carlo_pi = extra_ops:shout",
              "from heaven.gateway.operations import Operation\n"
              "shout = Operation('shout', lambda data: None, lambda data, cores: data['text'].upper())\n")
    operations = registry()
    assert operations["shout"].run({"text": "hi"}, [0]) == "HI"
    assert "broken" not in operations
    assert operations["monte_carlo_pi"] is MONTE_CARLO_PI  # a package cannot replace the built-in
