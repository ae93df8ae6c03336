"""heaven jobs on a pipe: the Rich table's columns and cells, as plain aligned text."""
import io

from heaven.cli.listing import JOB_COLUMNS, job_cells, plain_table, write_jobs


def _job(**fields):
    return {"id": 12, "name": "train", "state": "running", "cores_requested": 2, "node": "n1", "local_cores": [0, 1],
            "cpu_percent": 97.4, "submitted_at": None, "reason": None, **fields}


def test_the_cells_are_the_tables():
    assert job_cells(_job()) == ["12", "train", "running", "2", "n1", "0,1", "97", "-", ""]
    assert job_cells(_job(node=None, local_cores=[], cpu_percent=None, reason="waits"))[4:] == \
        ["-", "-", "-", "-", "waits"]


def test_plain_columns_line_up_without_trailing_blanks():
    text = plain_table(("A", "LONG"), [["wide cell", "x"], ["b", ""]])
    assert text == "A          LONG\nwide cell  x\nb\n"


def test_a_pipe_gets_plain_columns_and_json_is_json():
    out = io.StringIO()
    write_jobs([_job(), _job(id=3, name="a much longer name")], False, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == list(JOB_COLUMNS)
    assert lines[2].startswith("3   a much longer name  running")
    assert lines[1].index("running") == lines[0].index("STATE")
    out = io.StringIO()
    write_jobs([_job()], True, out)
    assert out.getvalue().startswith('[\n  {\n    "id": 12,')
