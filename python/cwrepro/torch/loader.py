"""The batches a torch DataLoader will draw, replayed before training without touching its
random state.

A DataLoader's order is fixed when its sampler is a `SequentialSampler` (file order), or a
`RandomSampler` with its own `torch.Generator` (`DataLoader(..., shuffle=True,
generator=torch.Generator().manual_seed(s))`): then every index it draws follows from that
generator's state. The replay clones the generators and repeats exactly what torch 2.x does per
epoch (torch/utils/data/dataloader.py, sampler.py):

1. creating the epoch's iterator draws one int64 from `loader.generator` (the workers' base
   seed; with `persistent_workers` only for the first epoch);
2. the sampler then draws `randperm(n, generator)` (`RandomSampler`; with `replacement=True`,
   `randint` in chunks of 32), and `BatchSampler` cuts the indices into batches of `batch_size`,
   dropping a short last batch when `drop_last`.

A sampler without a generator seeds itself from torch's global random state each epoch, which
the training loop itself moves (dropout, initialisers): that order cannot be replayed and is
refused, naming the change (a seeded generator)."""

from __future__ import annotations

from typing import List, Optional

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from ..errors import UnfixedOrderError
from ..export import check_steps

__all__ = ["loader_batches", "is_loader"]

_FIX = ("give the DataLoader a seeded generator: DataLoader(dataset, batch_size=..., shuffle=True, "
        "generator=torch.Generator().manual_seed(seed)), use shuffle=False, or pass batch_order as an explicit list of "
        "index lists")


def is_loader(obj) -> bool:
    return isinstance(obj, (DataLoader, BatchSampler))


def _clone(g: Optional[torch.Generator]) -> Optional[torch.Generator]:
    if g is None:
        return None
    c = torch.Generator(device=g.device)
    c.set_state(g.get_state())
    return c


def _check_sampler(sampler, n_train: int):
    if not isinstance(sampler, (RandomSampler, SequentialSampler)):
        raise UnfixedOrderError(f"batch_order: the sampler is a {type(sampler).__module__}.{type(sampler).__name__}; "
                                f"export replays SequentialSampler and generator-seeded RandomSampler orders only; {_FIX}")
    if len(sampler.data_source) != n_train:
        raise UnfixedOrderError(f"batch_order: the loader's dataset has {len(sampler.data_source)} samples, x_train has "
                                f"{n_train}; the loader must draw from the training arrays given in data=")
    if isinstance(sampler, RandomSampler) and sampler.generator is None:
        raise UnfixedOrderError("batch_order: the loader shuffles with a RandomSampler that has no generator: it seeds itself "
                                f"from torch's global random state every epoch, which training moves; {_FIX}")


def loader_batches(loader, n_train: int, steps: Optional[int]) -> List[List[int]]:
    """The first `steps` batches (default: one epoch) `loader` (a DataLoader or a BatchSampler)
    will yield, as lists of training indices. The loader's generators are not advanced.
    `steps` is checked as for an explicit order (`cwrepro.export.check_steps`)."""
    steps = check_steps(steps)
    if isinstance(loader, DataLoader):
        from torch.utils.data import IterableDataset
        if isinstance(loader.dataset, IterableDataset):
            raise UnfixedOrderError("batch_order: the DataLoader reads an IterableDataset, whose order export cannot see; "
                                    "use a map-style dataset (e.g. TensorDataset) or pass an explicit list of index lists")
        batch_sampler = loader.batch_sampler
        if batch_sampler is None:
            raise UnfixedOrderError("batch_order: the DataLoader has batch_size=None (no batching); give it a batch_size")
        loader_gen, persistent = loader.generator, loader.persistent_workers and loader.num_workers > 0
        if isinstance(loader.dataset, torch.utils.data.TensorDataset) and loader.dataset.tensors:
            n = loader.dataset.tensors[0].shape[0]
            if n != n_train:
                raise UnfixedOrderError(f"batch_order: the DataLoader's TensorDataset has {n} samples, x_train has {n_train}; "
                                        "the loader must draw from the training arrays given in data=")
    else:
        batch_sampler, loader_gen, persistent = loader, None, False
    if type(batch_sampler) is not BatchSampler:
        raise UnfixedOrderError(f"batch_order: the batch sampler is a {type(batch_sampler).__module__}."
                                f"{type(batch_sampler).__name__}; export replays torch's BatchSampler over a SequentialSampler "
                                f"or a generator-seeded RandomSampler; {_FIX}")
    sampler = batch_sampler.sampler
    _check_sampler(sampler, n_train)
    size, drop_last = batch_sampler.batch_size, batch_sampler.drop_last
    per_epoch = len(batch_sampler)
    if per_epoch == 0:
        raise UnfixedOrderError(f"batch_order: the loader yields no batches ({n_train} samples, batch_size {size}, drop_last)")
    steps = per_epoch if steps is None else steps

    g_loader = _clone(loader_gen)
    if isinstance(sampler, RandomSampler):
        g_sampler = g_loader if sampler.generator is loader_gen else _clone(sampler.generator)
        replay = RandomSampler(range(n_train), replacement=sampler.replacement, num_samples=sampler._num_samples,
                               generator=g_sampler)
    else:
        replay = SequentialSampler(range(n_train))
    order: List[List[int]] = []
    epoch = 0
    while len(order) < steps:
        if epoch == 0 or not persistent:
            # _BaseDataLoaderIter.__init__: the base seed, drawn from loader.generator (the global
            # generator when None, which does not touch the sampler's own).
            torch.empty((), dtype=torch.int64).random_(generator=g_loader) if g_loader is not None else None
        for batch in BatchSampler(replay, size, drop_last):
            order.append([int(i) for i in batch])
            if len(order) == steps:
                break
        epoch += 1
    return order


def loader_drop_last(loader) -> bool:
    bs = loader.batch_sampler if isinstance(loader, DataLoader) else loader
    return bool(getattr(bs, "drop_last", False))
