"""Sweeps: one check over many cases, every case in the SQLite pass, a sample of them in the PostgreSQL pass.

A sweep (the role × endpoint matrix, odd values in every field of a record, random worlds for the visibility rule)
repeats one check over many inputs, and most of what it proves is the application's own logic: the validation rules,
the role checks, the visibility rule. What PostgreSQL adds (its column types, its SQL, its errors) is the same for
every case of one kind, so its pass runs a sample that takes each kind through it: a field of each rule, every
endpoint once allowed and once refused, one random world of each shape. The other cases carry the `sweep_rest`
marker, which the PostgreSQL pass of `make test` deselects (`-m "... and not sweep_rest"`); the SQLite pass runs them
all. To sweep PostgreSQL whole, run that pass without `and not sweep_rest`.
"""
import pytest


def sweep(cases, sample, ids=None) -> list:
    """`cases` for pytest.mark.parametrize, each one not in `sample` marked sweep_rest (a case with several arguments
    is a tuple, as parametrize takes it)."""
    cases = list(cases)
    sample = list(sample)
    unknown = [case for case in sample if case not in cases]
    assert sample and not unknown, f"the PostgreSQL sample names cases the sweep does not have: {unknown}"
    params = []
    for i, case in enumerate(cases):
        values = case if isinstance(case, tuple) else (case,)
        marks = () if case in sample else (pytest.mark.sweep_rest,)
        params.append(pytest.param(*values, marks=marks, id=ids[i] if ids is not None else None))
    return params
