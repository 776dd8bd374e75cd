"""The Ray Tune executor: a search algorithm proposes points of a study's space; each Tune trial
trains one point with `cwrepro study point STUDY --point JSON` (which plans the point into the
study, records its seeds x sides trials, and prints the point's outcome), and reports the
objective (|accuracy gap| or the accuracy range over seeds) for the search to maximise."""

import json
import math
import os
import subprocess
import sys

from .tasks import RayExecutorError, _require, connect, read_versioned_json

__all__ = ["read_tune_task", "run_tune", "search_space", "searcher", "train_point", "ALGORITHMS"]

TUNE_FORMAT = "cwrepro-tune-task"

#: Search algorithms and the package each needs besides ray[tune].
ALGORITHMS = {"random": None, "optuna": "optuna", "hyperopt": "hyperopt", "bayesopt": "bayesian-optimization"}


def read_tune_task(path):
    """The Tune task file cwrepro wrote (docs/sweep.md), checked field by field."""
    task = read_versioned_json(path, TUNE_FORMAT, "Tune task file")
    for key, kind in (("name", str), ("binary", str), ("directory", str), ("environment", dict), ("pointArguments", list),
                      ("space", list), ("algorithm", str), ("samples", int), ("seed", int), ("objective", str)):
        _require(task, key, kind, path)
    if task["algorithm"] not in ALGORITHMS:
        raise RayExecutorError(f"{path}.algorithm: {task['algorithm']!r}; expected one of {', '.join(ALGORITHMS)}")
    for i, d in enumerate(task["space"]):
        where = f"{path}: space[{i}]"
        _require(d, "key", str, where)
        kind = _require(d, "kind", str, where)
        if kind in ("grid", "choice"):
            _require(d, "values", list, where)
        elif kind in ("uniform", "logUniform"):
            _require(d, "low", (int, float), where)
            _require(d, "high", (int, float), where)
        else:
            raise RayExecutorError(f"{where}.kind: {kind!r}; expected grid, choice, uniform or logUniform")
    return task


def search_space(task):
    """Tune's param_space for the task's space, under keys p0, p1, ... (Tune reads dots and slashes
    in keys as nesting), and the key each stands for. Searchers other than `random` cannot expand
    grids: a grid dimension is a choice for them."""
    from ray import tune

    space, keys = {}, {}
    basic = task["algorithm"] == "random"
    for i, d in enumerate(task["space"]):
        name = f"p{i}"
        keys[name] = d["key"]
        kind = d["kind"]
        if kind == "grid" and basic:
            space[name] = tune.grid_search(d["values"])
        elif kind in ("grid", "choice"):
            space[name] = tune.choice(d["values"])
        elif kind == "uniform":
            space[name] = tune.uniform(d["low"], d["high"])
        else:
            space[name] = tune.loguniform(d["low"], d["high"])
    return space, keys


def searcher(task):
    """The search algorithm the sweep names, seeded with its seed, maximising "objective"; None for
    `random` (Tune's BasicVariantGenerator, seeded through TuneConfig)."""
    algorithm, seed = task["algorithm"], task["seed"]
    try:
        if algorithm == "random":
            from ray.tune.search.basic_variant import BasicVariantGenerator
            return BasicVariantGenerator(random_state=seed)
        if algorithm == "optuna":
            from ray.tune.search.optuna import OptunaSearch
            import optuna  # noqa: F401  (OptunaSearch only warns when it is missing)
            return OptunaSearch(metric="objective", mode="max", seed=seed)
        if algorithm == "hyperopt":
            from ray.tune.search.hyperopt import HyperOptSearch
            import hyperopt  # noqa: F401
            return HyperOptSearch(metric="objective", mode="max", random_state_seed=seed)
        from ray.tune.search.bayesopt import BayesOptSearch
        import bayes_opt  # noqa: F401
        return BayesOptSearch(metric="objective", mode="max", random_state=seed)
    except ImportError as e:
        raise RayExecutorError(f"search algorithm {algorithm} needs the Python package {ALGORITHMS[algorithm]} ({e}): "
                               f"pip install {ALGORITHMS[algorithm]}") from None


def train_point(task, values):
    """Trains one point: runs `cwrepro study point ... --point JSON` and returns its outcome (a dict:
    point, objective, gap, trials, ran, failed, errors)."""
    env = dict(os.environ)
    env.update(task["environment"])
    cmd = [task["binary"]] + task["pointArguments"] + [json.dumps(values, sort_keys=True)]
    p = subprocess.run(cmd, cwd=task["directory"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        return {"point": values, "objective": None, "gap": None, "trials": 0, "ran": 0, "failed": 0,
                "errors": [f"cwrepro study point exited {p.returncode}: {p.stderr.strip()[-2000:]}"]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_tune(task, address=None, num_cpus=None, report=None):
    """Runs the Tune search of `task` (from `read_tune_task`): `samples` points (each combined with
    every grid combination by the random search), one CPU per Tune trial, and calls `report(line)`
    (default: print to stdout) with each point's outcome as JSON as it finishes. Returns the outcomes."""
    try:
        from ray import tune
    except ImportError as e:
        raise RayExecutorError(f"Ray Tune's dependencies are missing for {sys.executable} ({e.__cause__ or e}): "
                               "pip install 'ray[tune]==2.60.0'; or use search type grid or random, which need ray alone") from None
    report = report or (lambda line: print(line, flush=True))
    space, keys = search_space(task)
    search = searcher(task)
    outcomes = []

    class Reporter(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            outcome = json.loads(result["outcome"])
            outcomes.append(outcome)
            report(json.dumps(outcome, sort_keys=True))

    def trainable(config):
        values = {keys[name]: config[name] for name in keys}
        outcome = train_point(task, values)
        objective = outcome.get("objective")
        # A point whose every trial failed has no objective: the least interesting point for the search.
        score = objective if isinstance(objective, (int, float)) and math.isfinite(objective) else 0.0
        return {"objective": score, "outcome": json.dumps(outcome, sort_keys=True)}

    started = connect(address, num_cpus)
    try:
        storage = os.path.join(os.path.dirname(os.path.abspath(task.get("path", "."))), "tune-results")
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space=space,
            tune_config=tune.TuneConfig(search_alg=search, metric="objective", mode="max", num_samples=task["samples"]),
            run_config=tune.RunConfig(name=task["name"], storage_path=storage, verbose=0, callbacks=[Reporter()],
                                      log_to_file=True),
        )
        results = tuner.fit()
        errors = [str(r.error) for r in results if r.error is not None]
        if errors:
            raise RayExecutorError(f"{len(errors)} Tune trial(s) failed: {errors[0][-2000:]}")
        return outcomes
    finally:
        if started:
            import ray
            ray.shutdown()
