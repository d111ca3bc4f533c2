"""Pure transforms: pandas and scikit-learn in, pandas and fitted objects out; no Dagster."""

from collections.abc import Callable

import pandas as pd
from threadpoolctl import threadpool_limits


def by_distinct_value(values: pd.Series, function: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``function`` (a Series in, one of the same length out) applied to each distinct value
    of ``values`` once and spread back to every row: a column that repeats a handful of
    values (categories, dates) costs its distinct values, not its rows."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    mapped = function(pd.Series(distinct, dtype=object)).to_numpy()
    return pd.Series(mapped[codes], index=values.index, name=values.name)


def fitting_threads(openmp: int | None) -> threadpool_limits:
    """Thread limits while fitting: ``openmp`` threads for the OpenMP loops of gradient
    boosting and k-means (None: every core), and one BLAS thread, because the matrices
    here (a fold of at most a sample's rows) are too small to repay splitting: two BLAS
    threads made the logistic regression's folds 3x slower on 20,000 rows."""
    return threadpool_limits(limits={"blas": 1} if openmp is None else {"blas": 1, "openmp": openmp})
