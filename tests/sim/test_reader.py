"""The SWF reader: headers, gzip, and errors that say where."""
import gzip

import pytest

from heaven.sim.reader import SwfError, read_swf
from tests.sim.conftest import swf_line


def write(tmp_path, lines, name="t.swf"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reads_jobs_and_the_machine_size_from_the_header(tmp_path):
    path = write(tmp_path, ["; Computer: IBM SP2", "; MaxNodes: 338 (batch partition; 512 total)", ";",
                            "", swf_line(1, 0, 937, 306, cpu="142.00", requested_time=35100)])
    trace = read_swf(path)
    assert trace.max_nodes == 338 and trace.max_procs is None and trace.machine_cores == 338
    (job,) = trace.jobs
    assert (job.job_number, job.run_time, job.allocated_processors, job.average_cpu_time, job.requested_time) == \
        (1, 937.0, 306, 142.0, 35100.0)
    assert trace.header[0] == "; Computer: IBM SP2"


def test_max_procs_wins_over_max_nodes(tmp_path):
    trace = read_swf(write(tmp_path, ["; MaxNodes: 100", "; MaxProcs: 400", swf_line(1, 0, 5, 1)]))
    assert trace.machine_cores == 400


def test_reads_gzip_by_content(tmp_path):
    path = tmp_path / "t.swf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("; MaxProcs: 8\n" + swf_line(7, 3, 5, 2) + "\n")
    trace = read_swf(path)
    assert trace.machine_cores == 8 and trace.jobs[0].job_number == 7


def test_a_malformed_field_names_the_line_and_the_field(tmp_path):
    bad = swf_line(2, 10, "12x", 4)
    path = write(tmp_path, ["; MaxProcs: 8", swf_line(1, 0, 5, 2), bad])
    with pytest.raises(SwfError) as caught:
        read_swf(path)
    assert caught.value.line == 3 and caught.value.field == "run_time"
    assert str(caught.value) == f"{path}:3 (field 4, run_time): '12x' is not a number"


def test_nan_and_inf_are_not_numbers_here(tmp_path):
    with pytest.raises(SwfError, match=r":1 \(field 2, submit_time\): 'nan' is not a number"):
        read_swf(write(tmp_path, [swf_line(1, "nan", 5, 2)]))


def test_a_fractional_processor_count_is_an_error(tmp_path):
    with pytest.raises(SwfError, match=r":1 \(field 5, allocated_processors\): '4.5' is not a whole number"):
        read_swf(write(tmp_path, [swf_line(1, 0, 5, "4.5")]))


def test_a_short_line_names_the_first_missing_field(tmp_path):
    with pytest.raises(SwfError, match=r":2 \(field 8, requested_processors\): expected 18 fields, found 7"):
        read_swf(write(tmp_path, ["; MaxProcs: 8", "1 0 -1 5 2 -1 -1"]))


def test_a_broken_header_number_and_a_broken_gzip_are_errors(tmp_path):
    with pytest.raises(SwfError, match=r":1: MaxProcs is not a number"):
        read_swf(write(tmp_path, ["; MaxProcs: many"]))
    broken = tmp_path / "broken.swf.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(SwfError, match="not a readable SWF file"):
        read_swf(broken)


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_swf(tmp_path / "nope.swf")
