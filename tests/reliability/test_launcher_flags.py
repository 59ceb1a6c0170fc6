"""Every bad distgrad-run invocation ends with exit code 2 and one line naming the problem:
no traceback, no usage dump, no job started (every row also asks for --dry-run, so a flag the
launcher wrongly accepts prints a command instead of starting ranks). In-process: main(argv)."""
import pytest

from distgrad.launcher.command import OVERSUBSCRIBE_FACTOR
from distgrad.run import _cores, main

BAD = [
    (["-n", str(OVERSUBSCRIBE_FACTOR * _cores() + 1)], f"more than {OVERSUBSCRIBE_FACTOR} ranks per core"),
    (["-n", "100000"], "pass --oversubscribe if you mean it"),
    (["-n", "2", "--mpi-args", "-launcher 'ssh"], "--mpi-args: cannot split"),
    (["--timeout", "nan"], "--timeout must be positive (a finite number of seconds), got nan"),
    (["--timeout", "-5"], "--timeout must be positive"),
    (["--timeout", "inf"], "--timeout must be positive"),
    (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
    (["--grace", "nan"], "--grace must not be negative"),
    (["--grace", "-1"], "--grace must not be negative"),
    (["-H", ""], "host list '': empty entry"),
    (["-H", "a:2,,b"], "empty entry"),
    (["--hostfile", ""], "cannot read hostfile"),
    (["-n", "two"], "argument -n/-np: invalid int value: 'two'"),
    (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    (["--mpi", "lam"], "argument --mpi: invalid choice: 'lam'"),
    (["--master-port", "70000"], "--master-port must be in 1..65535"),
    (["--nproc-per-node", "many"], "expected a number, 'gpu', 'cpu' or 'auto', got 'many'"),
    (["--nnodes", "0"], "--nnodes must be a positive number of nodes"),
    (["-x", "1BAD=x"], "'1BAD' is not a valid environment variable name"),
]


@pytest.mark.parametrize("flags, message", BAD, ids=[" ".join(f) or "empty" for f, _ in BAD])
def test_a_bad_flag_gets_one_line_and_exit_code_2(flags, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--dry-run", *flags, "train.py"])
    out, err = capsys.readouterr()
    assert exited.value.code == 2, out
    assert err.count("\n") == 1 and err.startswith("distgrad-run: error: "), err
    assert message in err


def test_oversubscribing_this_machine_is_allowed_when_asked(mpiexec, capsys):
    ranks = OVERSUBSCRIBE_FACTOR * _cores() + 1
    assert main(["--dry-run", "--mpiexec", mpiexec, "--oversubscribe", "-n", str(ranks), "train.py"]) == 0
    assert f" -n {ranks} " in capsys.readouterr().out
