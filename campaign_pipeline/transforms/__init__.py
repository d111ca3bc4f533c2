"""Pure transforms: pandas and scikit-learn in, pandas and fitted objects out; no Dagster."""

from threadpoolctl import threadpool_limits


def fitting_threads(openmp: int | None) -> threadpool_limits:
    """Thread limits while fitting: ``openmp`` threads for the OpenMP loops of gradient
    boosting and k-means (None: every core), and one BLAS thread, because the matrices
    here (a fold of at most a sample's rows) are too small to repay splitting: two BLAS
    threads made the logistic regression's folds 3x slower on 20,000 rows."""
    return threadpool_limits(limits={"blas": 1} if openmp is None else {"blas": 1, "openmp": openmp})
