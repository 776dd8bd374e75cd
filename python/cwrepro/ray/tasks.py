"""The plain Ray executor: every trial of a task file as a Ray task running the cwrepro binary."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

__all__ = ["RayExecutorError", "read_tasks", "run_tasks", "run_trial", "connect", "watch_parent", "write_line"]

TASKS_FORMAT = "cwrepro-executor-tasks"


class RayExecutorError(Exception):
    """A task file cwrepro.ray cannot run, or a missing dependency: the message says what to do."""


def _require(obj, key, kind, where):
    if key not in obj:
        raise RayExecutorError(f"{where}: missing \"{key}\"")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RayExecutorError(f"{where}.{key}: expected {names}, found {type(value).__name__}")
    return value


def read_versioned_json(path, fmt, what):
    """A JSON object file cwrepro wrote with `"format": fmt` and `"version": 1`; errors name the
    file (with line:column for bad JSON) and `what` it should be."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except OSError as e:
        raise RayExecutorError(f"{path}: cannot read the {what}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise RayExecutorError(f"{path}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise RayExecutorError(f"{path}: not a cwrepro {what} (format should be \"{fmt}\")")
    if _require(obj, "version", int, path) != 1:
        raise RayExecutorError(f"{path}: {what} version {obj['version']}; this cwrepro.ray reads version 1: update the Python package")
    return obj


def read_tasks(path):
    """The task file `cwrepro sweep --executor ray` wrote (docs/sweep.md), checked field by field."""
    tasks = read_versioned_json(path, TASKS_FORMAT, "task file")
    _require(tasks, "binary", str, path)
    _require(tasks, "directory", str, path)
    env = _require(tasks, "environment", dict, path)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise RayExecutorError(f"{path}.environment: expected string values")
    trials = _require(tasks, "trials", list, path)
    seen = set()
    for i, t in enumerate(trials):
        where = f"{path}: trials[{i}]"
        if not isinstance(t, dict):
            raise RayExecutorError(f"{where}: expected an object")
        _require(t, "id", str, where)
        _require(t, "trial", int, where)
        _require(t, "record", str, where)
        args = _require(t, "arguments", list, where)
        if not all(isinstance(a, str) for a in args):
            raise RayExecutorError(f"{where}.arguments: expected strings")
        if t["id"] in seen:
            raise RayExecutorError(f"{where}.id: {t['id']} appears twice")
        seen.add(t["id"])
    return tasks


def _die_with_parent():
    """In a trial's process before it runs cwrepro (Linux): SIGKILL when the Ray worker that
    started it dies, so a cancelled or killed study leaves no trial recording on."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def watch_parent(interval=0.5, grace=30.0):
    """Interrupts the main thread (KeyboardInterrupt: Ray is shut down on the way out) once this
    process's parent has died: a killed `cwrepro sweep` leaves no driver, Ray instance or trial
    behind. If the main thread has not ended `grace` seconds later, the process exits. Call it
    from the main thread (it makes SIGINT raise KeyboardInterrupt, also where a shell had it ignored)."""
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def loop():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGINT)  # a real signal: it also wakes a sleeping main thread
                time.sleep(grace)
                os._exit(130)

    threading.Thread(target=loop, name="cwrepro-parent-watch", daemon=True).start()


def run_trial(binary, arguments, directory, environment, record):
    """Runs one trial: `binary arguments...` in `directory` with `environment` added. A record left
    unfinished by an earlier attempt of this task (a Ray retry after a node died) is removed
    first: cwrepro planned the trial because it had no finished record. Returns the trial's report
    (exit status, seconds, the tail of its standard error, the node)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(record + suffix)
        except FileNotFoundError:
            pass
    env = dict(os.environ)
    env.update(environment)
    start = time.monotonic()
    try:
        p = subprocess.run([binary] + list(arguments), cwd=directory, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                           preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        status, stderr = p.returncode, p.stderr
    except OSError as e:
        status, stderr = 127, f"cannot run {binary}: {e.strerror} (the cwrepro binary must be at the same path on every Ray node)"
    node = None
    try:
        import ray
        node = ray.util.get_node_ip_address()
    except Exception:  # outside Ray (a direct call)
        pass
    # A negative return code is a signal (-9: killed): reported as a shell would (128 + n), and named.
    report = {"status": 128 - status if status < 0 else status, "seconds": time.monotonic() - start,
              "stderr": stderr.strip()[-4000:], "node": node}
    if status < 0:
        report["signal"] = -status
    return report


def write_line(fd, line):
    """Writes one protocol line to file descriptor `fd` (whole, in one write)."""
    data = (line + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def connect(address=None, num_cpus=None):
    """Connects to the Ray cluster at `address`, or starts a local instance with `num_cpus` CPUs
    (no dashboard). Returns True when this call started Ray (the caller shuts it down)."""
    try:
        import ray
    except ImportError:
        raise RayExecutorError(f"ray is not installed for {sys.executable}: pip install 'ray==2.60.0' "
                               "(or give cwrepro --python a Python that has it)") from None
    if ray.is_initialized():
        return False
    if address:
        # The cluster's workers import this package to run the tasks: ship it with the job.
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        ray.init(address=address, log_to_driver=False, runtime_env={"py_modules": [package]})
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


def run_tasks(tasks, address=None, num_cpus=None, report=None, cpus_per_trial=1):
    """Submits every trial of `tasks` (from `read_tasks`) as a Ray task needing `cpus_per_trial`
    CPUs and calls `report(line)` (default: print to stdout) with each finished trial's JSON
    report, in the order they finish. Returns the reports by trial id."""
    import ray

    report = report or (lambda line: print(line, flush=True))
    started = connect(address, num_cpus)
    try:
        remote = ray.remote(num_cpus=cpus_per_trial, max_retries=2)(run_trial)
        refs = {}
        for t in tasks["trials"]:
            ref = remote.remote(tasks["binary"], t["arguments"], tasks["directory"], tasks["environment"], t["record"])
            refs[ref] = t["id"]
        results = {}
        pending = list(refs)
        while pending:
            # A timeout keeps the main thread returning to Python, where an interrupt can reach it.
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                trial_id = refs[ref]
                try:
                    r = ray.get(ref)
                except Exception as e:  # the task itself died (its node was lost) after its retries
                    r = {"status": 255, "seconds": 0.0, "stderr": f"the Ray task failed: {type(e).__name__}: {e}"[-4000:], "node": None}
                r["id"] = trial_id
                results[trial_id] = r
                report(json.dumps(r, sort_keys=True))
        return results
    finally:
        if started:
            ray.shutdown()
