"""cwrepro.ray: run a cwrepro study's trials on Ray (the distributed engine), each trial the
cwrepro binary as a subprocess of a Ray task.

`cwrepro sweep sweep.json -o study/ --executor ray [--address ADDR]` starts this module as
`python -m cwrepro.ray run TASKS` (each planned trial a Ray task running `cwrepro record ...`)
or `python -m cwrepro.ray tune TASK` (a Ray Tune search: each Tune trial trains one proposed point
with `cwrepro study point`). The protocol between the two sides is in docs/sweep.md: the task
file is JSON written by cwrepro; the driver prints one JSON line per finished trial (or point) on
stdout and exits 0 when it ran them all, whatever their exit statuses.

- `read_tasks(path)`, `run_tasks(tasks, address=None, num_cpus=None)`: the plain executor.
- `read_tune_task(path)`, `run_tune(task, address=None, num_cpus=None)`: the Tune search.
- `RayExecutorError`: bad task files, a missing Ray or Ray Tune dependency (names what to install).

Nothing here decides what a trial is or computes a result: cwrepro plans the trials (their ids
hash their resolved configs) and reads their records, so a trial's record is bit-identical
whichever executor ran it.
"""

from .tasks import RayExecutorError, read_tasks, run_tasks, run_trial
from .tune import read_tune_task, run_tune

__all__ = ["RayExecutorError", "read_tasks", "run_tasks", "run_trial", "read_tune_task", "run_tune"]
