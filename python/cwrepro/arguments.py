"""Checks of arguments shared by the capture and export APIs."""

from __future__ import annotations

import os

__all__ = ["path_argument"]


def path_argument(value, *, name: str, what: str, example: str, error=TypeError) -> str:
    """`value` as a path: a non-empty str or os.PathLike (None or another type is never meant:
    str(None) would name a file "None"). Raises `error` naming the argument `name`, what it is for
    and an `example`."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise error(f"{name} {value!r}: expected {what} as a non-empty str or os.PathLike (e.g. {example})")
    return value
