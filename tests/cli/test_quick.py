"""Which command lines heaven.cli.quick answers itself; every other one is the Typer CLI's."""
import pytest

from heaven.cli.quick import Listing, parse


@pytest.mark.parametrize("argv,asked", [
    (["jobs"], Listing()),
    (["jobs", "--json"], Listing(as_json=True)),
    (["jobs", "--state", "pending", "--state=running", "--limit", "7"], Listing(states=["pending", "running"], limit=7)),
    (["jobs", "--all", "--limit=10000"], Listing(every=True, limit=10000)),
    (["--controller", "http://a:1,http://b:2", "jobs"], Listing(controller="http://a:1,http://b:2")),
    (["--controller=https://a", "jobs", "--json"], Listing(controller="https://a", as_json=True)),
])
def test_plain_listings_are_answered_here(argv, asked):
    assert parse(argv) == asked


@pytest.mark.parametrize("argv", [
    [], ["show", "1"], ["jobs", "--help"], ["--help"], ["jobs", "--limit", "0"], ["jobs", "--limit", "10001"],
    ["jobs", "--limit", "two"], ["jobs", "--limit", "+5"], ["jobs", "--limit"], ["jobs", "--state", "--json"],
    ["jobs", "--json=1"], ["jobs", "--no-such"], ["jobs", "extra"], ["jobs", "--state"],
    ["--controller", "ftp://x", "jobs"], ["--controller", "", "jobs"], ["--controller"], ["jobs", "--controller", "http://a"],
])
def test_anything_else_is_left_to_typer(argv):
    assert parse(argv) is None
