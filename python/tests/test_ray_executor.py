"""cwrepro.ray, the Ray executor of `cwrepro sweep --executor ray`: task files checked field by
field, a trial run as a subprocess (exit status, signals, stderr, leftovers of a killed attempt),
every trial of a task file run as a Ray task on a real local Ray instance (2 CPUs) with only
protocol lines on stdout, a driver that ends when its parent dies, and the Ray Tune search (run
when Ray Tune's extra dependencies are installed; otherwise its clear error is checked). The
end-to-end runs with the cwrepro binary are Tests/CLITests/SweepCLITests.swift."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cwrepro.ray import RayExecutorError, read_tasks, read_tune_task, run_trial

PYTHON_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HAS_RAY = importlib.util.find_spec("ray") is not None


def tune_available():
    if not HAS_RAY:
        return False
    try:
        import ray.tune  # noqa: F401
        return True
    except ImportError:
        return False


def env_with_package():
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return env


def tasks_file(tmp_path, trial_list, **fields):
    doc = {"format": "cwrepro-executor-tasks", "version": 1, "binary": "/bin/sh", "directory": str(tmp_path),
           "environment": {"CWREPRO_PROGRESS": "none"}, "trials": trial_list}
    doc.update(fields)
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(doc))
    return str(path)


def trial(i, script, tmp_path):
    return {"id": f"t{i}", "trial": i, "record": str(tmp_path / f"r{i}.cwr"), "arguments": ["-c", script]}


@pytest.mark.parametrize("change, message", [
    ({"format": "something-else"}, "not a cwrepro task file"),
    ({"version": 2}, "task file version 2; this cwrepro.ray reads version 1"),
    ({"binary": 3}, ".binary: expected str, found int"),
    ({"environment": {"A": 1}}, ".environment: expected string values"),
    ({"trials": [{"id": "x", "trial": 0, "record": "r", "arguments": ["a", 1]}]}, "trials[0].arguments: expected strings"),
    ({"trials": [{"id": "x", "trial": 0, "record": "r"}]}, "trials[0]: missing \"arguments\""),
    ({"trials": [{"id": "x", "trial": True, "record": "r", "arguments": []}]}, "trials[0].trial: expected int, found bool"),
    ({"trials": [{"id": "x", "trial": 0, "record": "r", "arguments": []}, {"id": "x", "trial": 1, "record": "s", "arguments": []}]},
     "trials[1].id: x appears twice"),
])
def test_bad_task_files_name_the_field(tmp_path, change, message):
    path = tasks_file(tmp_path, [], **change)
    with pytest.raises(RayExecutorError) as e:
        read_tasks(path)
    assert message in str(e.value), str(e.value)
    assert path in str(e.value)


def test_unreadable_task_files(tmp_path):
    with pytest.raises(RayExecutorError, match="cannot read the task file"):
        read_tasks(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "cwrepro-executor-tasks",\n "version": 1,,}')
    with pytest.raises(RayExecutorError, match=r"bad.json:2:15: not JSON"):
        read_tasks(str(bad))


def test_run_trial_reports_status_stderr_and_signals(tmp_path):
    record = tmp_path / "r.cwr"
    for suffix in ("", "-wal", "-shm"):  # a killed earlier attempt's files
        (tmp_path / f"r.cwr{suffix}").write_text("old")
    r = run_trial("/bin/sh", ["-c", 'echo "$CWREPRO_PROGRESS"; echo broke >&2; exit 3'], str(tmp_path), {"CWREPRO_PROGRESS": "none"}, str(record))
    assert r["status"] == 3 and r["stderr"] == "broke" and r["seconds"] >= 0
    assert not any((tmp_path / f"r.cwr{s}").exists() for s in ("", "-wal", "-shm")), "leftovers removed before the run"
    r = run_trial("/bin/sh", ["-c", "kill -9 $$"], str(tmp_path), {}, str(record))
    assert r["status"] == 128 + 9 and r["signal"] == 9, "a signal is reported as a shell does, and named"
    assert "signal" not in run_trial("/bin/sh", ["-c", "exit 137"], str(tmp_path), {}, str(record)), "an exit status is not a signal"
    r = run_trial(str(tmp_path / "no-such-binary"), [], str(tmp_path), {}, str(record))
    assert r["status"] == 127 and "the cwrepro binary must be at the same path on every Ray node" in r["stderr"]


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (make venv installs ray 2.60.0)")
def test_every_trial_runs_as_a_ray_task_and_stdout_carries_only_reports(tmp_path):
    trials = [trial(i, f'echo trial {i} > "{tmp_path}/out{i}"; echo "$CWREPRO_PROGRESS" >> "{tmp_path}/out{i}"; exit {i % 3}', tmp_path)
              for i in range(6)]
    path = tasks_file(tmp_path, trials)
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "cwrepro.ray", "run", path, "--num-cpus", "2"], capture_output=True, text=True,
                       env=env_with_package(), timeout=300)
    elapsed = time.monotonic() - start
    assert p.returncode == 0, p.stderr[-3000:]
    reports = [json.loads(line) for line in p.stdout.splitlines()]  # every stdout line is a report
    assert sorted(r["id"] for r in reports) == [f"t{i}" for i in range(6)]
    assert {r["id"]: r["status"] for r in reports} == {f"t{i}": i % 3 for i in range(6)}
    assert all(r["node"] for r in reports), "the node each task ran on"
    for i in range(6):
        assert (tmp_path / f"out{i}").read_text() == f"trial {i}\nnone\n", "the task's environment reaches the trial"
    assert "Started a local Ray instance" in p.stderr, "Ray's messages go to stderr"
    print(f"6 trivial trials through a local Ray instance (2 CPUs): {elapsed:.1f} s, start-up included")


def test_driver_errors_exit_2_with_the_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    p = subprocess.run([sys.executable, "-m", "cwrepro.ray", "run", str(bad)], capture_output=True, text=True, env=env_with_package())
    assert p.returncode == 2 and "cwrepro.ray: error:" in p.stderr and "not a cwrepro task file" in p.stderr
    assert p.stdout == ""
    p = subprocess.run([sys.executable, "-m", "cwrepro.ray", "run", str(bad), "--num-cpus", "0"], capture_output=True, text=True, env=env_with_package())
    assert p.returncode == 2 and "--num-cpus 0: give at least 1" in p.stderr


def test_driver_ends_when_its_parent_dies(tmp_path):
    """A killed `cwrepro sweep` leaves no driver behind: the driver's watcher interrupts it."""
    code = "import time; from cwrepro.ray.tasks import watch_parent; watch_parent(0.1); time.sleep(60)"
    pidfile = tmp_path / "pid"
    shell = subprocess.Popen(["/bin/sh", "-c", f'"{sys.executable}" -c "{code}" & echo $! > "{pidfile}"; wait'], env=env_with_package())
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    time.sleep(1.0)  # the child has started its watcher
    os.kill(shell.pid, signal.SIGKILL)
    shell.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the driver outlived its parent")


def tune_task(tmp_path, algorithm="random", samples=2, binary=None):
    fake = tmp_path / "fake-cwrepro"
    # Stands in for `cwrepro study point STUDY --jobs 1 --point JSON`: the objective is the learning rate.
    fake.write_text("#!" + sys.executable + "\nimport json, sys\np = json.loads(sys.argv[-1])\n"
                    "print(json.dumps({'point': p, 'objective': p['optimizer.lr'], 'gap': -p['optimizer.lr'], 'trials': 4, 'ran': 4, 'failed': 0, 'errors': []}))\n")
    fake.chmod(0o755)
    doc = {"format": "cwrepro-tune-task", "version": 1, "name": "t", "binary": binary or str(fake), "directory": str(tmp_path),
           "environment": {}, "pointArguments": ["study", "point", str(tmp_path), "--jobs", "1", "--point"],
           "space": [{"key": "optimizer.lr", "kind": "uniform", "low": 0.01, "high": 0.1},
                     {"key": "data.batchSize", "kind": "grid", "values": [16, 32]}],
           "algorithm": algorithm, "samples": samples, "seed": 3, "objective": "gap"}
    path = tmp_path / "tune.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_bad_tune_task(tmp_path):
    path = tune_task(tmp_path, algorithm="skopt")
    with pytest.raises(RayExecutorError, match="algorithm: 'skopt'; expected one of random, optuna, hyperopt, bayesopt"):
        read_tune_task(path)


@pytest.mark.skipif(not HAS_RAY or tune_available(), reason="checks the message for a venv without Ray Tune's extra dependencies")
def test_tune_without_its_dependencies_says_what_to_install(tmp_path):
    p = subprocess.run([sys.executable, "-m", "cwrepro.ray", "tune", tune_task(tmp_path), "--num-cpus", "1"], capture_output=True,
                       text=True, env=env_with_package(), timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Ray Tune's dependencies are missing" in p.stderr and "pip install 'ray[tune]==2.60.0'" in p.stderr
    assert "search type grid or random, which need ray alone" in p.stderr


@pytest.mark.skipif(not tune_available(), reason="Ray Tune needs its extra dependencies (pip install 'ray[tune]': pandas, pyarrow, ...), "
                                                 "not in this venv; the plain Ray executor does not")
def test_tune_random_search_trains_every_sample_with_every_grid_value(tmp_path):
    p = subprocess.run([sys.executable, "-m", "cwrepro.ray", "tune", tune_task(tmp_path, samples=2), "--num-cpus", "2"],
                       capture_output=True, text=True, env=env_with_package(), timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    outcomes = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(outcomes) == 4, "2 samples x 2 grid values"
    assert sorted(o["point"]["data.batchSize"] for o in outcomes) == [16, 16, 32, 32]
    assert all(0.01 <= o["point"]["optimizer.lr"] <= 0.1 and o["objective"] == o["point"]["optimizer.lr"] for o in outcomes)
