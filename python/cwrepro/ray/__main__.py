"""`python -m cwrepro.ray run TASKS` / `python -m cwrepro.ray tune TASK`: what `cwrepro sweep
--executor ray` runs. One JSON line per finished trial (run) or point (tune) on stdout; errors on
stderr. Exit 0 when every trial ran (whatever its exit status), 2 for a bad task file or a missing
dependency, 1 when Ray failed."""

import argparse
import functools
import os
import sys

from .tasks import RayExecutorError, read_tasks, run_tasks, watch_parent, write_line
from .tune import read_tune_task, run_tune


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m cwrepro.ray", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, what in (("run", "run every trial of a task file as a Ray task"),
                       ("tune", "search a study's space with Ray Tune")):
        p = sub.add_parser(name, help=what)
        p.add_argument("task", help="the task file cwrepro sweep wrote")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--address", help="the Ray cluster (default: start a local Ray instance)")
        where.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    a = ap.parse_args(argv)
    if a.num_cpus is not None and a.num_cpus < 1:
        ap.error(f"--num-cpus {a.num_cpus}: give at least 1")
    watch_parent()
    # Standard output carries the protocol's JSON lines only: everything else that writes to it
    # (Ray's and Tune's own messages, from Python or C++) goes to standard error.
    sys.stdout.flush()
    report = functools.partial(write_line, os.dup(1))  # picklable: Tune saves its callbacks
    os.dup2(2, 1)

    try:
        if a.command == "run":
            run_tasks(read_tasks(a.task), address=a.address, num_cpus=a.num_cpus, report=report)
        else:
            task = read_tune_task(a.task)
            task["path"] = a.task
            run_tune(task, address=a.address, num_cpus=a.num_cpus, report=report)
    except RayExecutorError as e:
        print(f"cwrepro.ray: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cwrepro.ray: interrupted (cwrepro sweep ended); Ray was shut down", file=sys.stderr)
        return 130
    except Exception as e:  # Ray itself: the cluster cannot be reached, a worker crashed...
        print(f"cwrepro.ray: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
