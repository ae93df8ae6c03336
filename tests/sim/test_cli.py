"""``heaven sim`` through Typer's CliRunner, on a throwaway app."""
import json

import pytest
import typer
from typer.testing import CliRunner

from heaven.cli.sim_command import sim
from tests.sim.conftest import swf_line

app = typer.Typer()
app.command("sim")(sim)


@app.command()
def noop() -> None:
    """A second command, so ``sim`` stays a subcommand as in the real CLI."""


runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["sim", *map(str, args)])


def test_prints_a_table_of_metrics(tiny_trace):
    result = run(tiny_trace, "--policy", "easy")
    assert result.exit_code == 0, result.output
    assert "mean bounded slowdown" in result.output and "tiny.swf" in result.output


def test_json_has_the_numbers(tiny_trace):
    result = run(tiny_trace, "--policy", "fcfs", "--json")
    data = json.loads(result.stdout)
    assert data["policy"] == "fcfs" and data["cores"] == 4 and data["metrics"]["jobs"] == 3
    # FCFS on the tiny trace: waits 0, 99, 148.
    assert data["metrics"]["mean_wait"] == pytest.approx((0 + 99 + 148) / 3)


def test_writes_a_plot(tiny_trace, tmp_path):
    png = tmp_path / "img" / "q.png"
    result = run(tiny_trace, "--plot", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_file_is_a_message_not_a_traceback(tmp_path):
    result = run(tmp_path / "nope.swf")
    assert result.exit_code == 1
    assert "nope.swf: no such file" in result.output and "Traceback" not in result.output


def test_a_malformed_line_names_line_and_field(tmp_path):
    path = tmp_path / "bad.swf"
    path.write_text("; MaxProcs: 4\n" + swf_line(1, 0, 10, "four") + "\n")
    result = run(path)
    assert result.exit_code == 1
    assert "bad.swf:2 (field 5, allocated_processors): 'four' is not a number" in result.output


def test_bad_choices_are_refused_clearly(tiny_trace):
    result = run(tiny_trace, "--policy", "nope")
    assert result.exit_code == 2 and "nope" in result.output


def test_preempt_reaches_the_core_and_evicts_nothing_in_a_trace_without_priorities(tiny_trace):
    # SWF jobs share one priority, so with --preempt the replay must come out the same: the simulator stops
    # with an error if the core ever plans an eviction.
    plain = run(tiny_trace, "--policy", "fcfs", "--json")
    result = run(tiny_trace, "--policy", "fcfs", "--json", "--preempt")
    assert result.exit_code == 0, result.output
    with_preempt, without = json.loads(result.stdout), json.loads(plain.stdout)
    assert (with_preempt["preempt"], without["preempt"]) == (True, False)
    assert with_preempt["metrics"] == without["metrics"]


def test_the_rlscheduler_protocol_needs_a_long_trace(tiny_trace):
    result = run(tiny_trace, "--protocol", "rlscheduler")
    assert result.exit_code == 1 and "needs 9874 usable jobs" in result.output


def test_orgs_from_group_reports_each_groups_share_per_window(tmp_path):
    from tests.sim.test_fairshare import flood_trace
    result = run(flood_trace(tmp_path, 40), "--policy", "greedy", "--orgs-from", "group", "--share-window", "100",
                 "--json")
    assert result.exit_code == 0, result.output
    windows = json.loads(result.stdout)["org_shares"][0]
    assert windows[1] == {"1": pytest.approx(0.5, abs=0.05), "2": pytest.approx(0.5, abs=0.05)}
    table = run(flood_trace(tmp_path, 40), "--policy", "greedy", "--orgs-from", "group")
    assert table.exit_code == 0 and "share by organization" in table.output


def test_an_unknown_org_field_is_refused(tiny_trace):
    result = run(tiny_trace, "--orgs-from", "queue")
    assert result.exit_code == 2 and "Traceback" not in result.output
