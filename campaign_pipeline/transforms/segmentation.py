"""Customer segmentation: a fitted preprocessor, a k sweep, an explicit choice of k and
cluster ids numbered by ascending typical spend.

Inputs are behaviour and value only: spend, purchase frequency, income and children.
Prior campaign acceptance and channel shares were tried too; on the reference file they
lowered both separation (silhouette) and stability, so they describe the segments in
``cluster_profiles`` instead of shaping them. Nothing derived from ``Response`` enters.
Everything fitted is an object that can be saved, inspected and reapplied.
"""

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.transforms import fitting_threads
from campaign_pipeline.transforms.buckets import stable_sample

FEATURE_PREFIX = "seg__"
MIN_CUSTOMERS_PER_K = 5
# Heavy-tailed money and counts are log-scaled before standardising so that a few big
# spenders do not become clusters of their own.
LOG_SCALED_FEATURES = ("customer_value_index", "total_purchases", "Income")
SCALED_FEATURES = ("children",)
SEGMENT_FEATURES = (*LOG_SCALED_FEATURES, *SCALED_FEATURES)
SPEND_FEATURE = f"{FEATURE_PREFIX}customer_value_index"


def build_segment_preprocessor() -> ColumnTransformer:
    """log1p + standardise the money and count features, standardise the rest."""
    preprocessor = ColumnTransformer(
        [
            (
                "log",
                make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"), StandardScaler()),
                list(LOG_SCALED_FEATURES),
            ),
            ("linear", StandardScaler(), list(SCALED_FEATURES)),
        ],
        verbose_feature_names_out=False,
    )
    return preprocessor


def to_model_matrix(preprocessor: ColumnTransformer, customers: pd.DataFrame) -> pd.DataFrame:
    """Apply a fitted preprocessor; columns are ``seg__<feature>``."""
    values = preprocessor.transform(customers[list(SEGMENT_FEATURES)])
    names = [f"{FEATURE_PREFIX}{name}" for name in preprocessor.get_feature_names_out()]
    return pd.DataFrame(values, columns=names, index=customers.index)


@dataclass(frozen=True)
class SelectionRule:
    """How k is chosen: among k in [k_min, k_max] whose smallest cluster holds at least
    ``min_cluster_share`` of customers and whose labels agree across seeds (mean pairwise
    ARI) at least ``min_stability``, the smallest k whose silhouette is within
    ``silhouette_tolerance`` of the best (fewer segments are easier to act on when the
    fit is as good). ``force_k`` skips the rule."""

    k_min: int = 4
    k_max: int = 8
    min_cluster_share: float = 0.05
    min_stability: float = 0.9
    silhouette_tolerance: float = 0.02
    force_k: int | None = None

    def describe(self) -> str:
        if self.force_k:
            return f"k forced to {self.force_k} by configuration"
        return (
            f"smallest k in [{self.k_min}, {self.k_max}] within {self.silhouette_tolerance} of the best "
            f"silhouette, with every cluster >= {self.min_cluster_share:.0%} of customers and stability "
            f"ARI >= {self.min_stability}"
        )


@dataclass(frozen=True)
class SweepSettings:
    """Above the sample sizes, work runs on fixed random samples so that its cost stops
    growing with the data: the sweep's fits (``sweep_sample``), the silhouette and other
    scores (``silhouette_sample``; quadratic in rows: its distance matrix takes
    8 x rows² bytes, 200 MB at the default) and the final k-means
    (``fit_sample``). Every customer is then labelled by ``predict``."""

    k_values: tuple[int, ...] = tuple(range(2, 11))
    stability_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    sweep_sample: int = 10_000
    silhouette_sample: int = 5_000
    fit_sample: int = 200_000
    n_init: int = 4
    threads: int | None = None  # OpenMP threads for k-means; None uses every core
    random_state: int = 0


@dataclass
class SegmentationModel:
    """A fitted k-means whose labels are renumbered by ascending centroid spend."""

    kmeans: KMeans
    order: np.ndarray  # order[original_label] = stable id
    feature_names: list[str]
    sweep: pd.DataFrame
    rule: SelectionRule
    metrics: dict = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    pca: PCA | None = None  # 2-D view of the training matrix, for charts
    fit_key: str = ""  # assets.fit_key of the fit: a rerun with the same one reuses this model

    @property
    def k(self) -> int:
        return int(self.kmeans.n_clusters)

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        return self.order[self.kmeans.predict(matrix[self.feature_names].to_numpy())]

    def project(self, matrix: pd.DataFrame, sample: int = 5_000, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """2-D coordinates of (a fixed sample of) ``matrix`` in the stored PCA, and the rows used."""
        rows = _sample(len(matrix), sample, random_state)
        return self.pca.transform(matrix[self.feature_names].to_numpy()[rows]), rows

    def card(self) -> dict:
        return {
            "kind": "segmentation",
            "k": self.k,
            "features": self.feature_names,
            "rule": self.rule.describe(),
            "names": {str(cluster): name for cluster, name in self.names.items()},
            **self.metrics,
            "fit_key": self.fit_key,
        }


SCATTER_SAMPLE = 5_000  # customers in the PCA scatter


def scatter_points(model: "SegmentationModel", scaled, clustered) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates and cluster labels of a stable sample of customers (``scaled`` and
    ``clustered``: frames, or their buckets read one at a time), for the PCA scatter."""
    shown = stable_sample(scaled, SCATTER_SAMPLE, 0)
    coordinates, rows = model.project(shown, sample=SCATTER_SAMPLE)
    labels = stable_sample(clustered, SCATTER_SAMPLE, 0, columns=["cluster"])["cluster"].to_numpy()[rows]
    return coordinates, labels


def _sample(n_rows: int, size: int, seed: int) -> np.ndarray:
    if n_rows <= size:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size, replace=False))


def _fit_kmeans(values: np.ndarray, k: int, seed: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(values)


def sweep_k(matrix: pd.DataFrame, settings: SweepSettings) -> pd.DataFrame:
    """Inertia, silhouette, Davies-Bouldin, Calinski-Harabasz, smallest cluster share and
    stability (mean pairwise ARI over seeds) for every k. Fits run on a fixed sample
    above ``sweep_sample`` rows and the scores on a fixed sample above ``silhouette_sample``."""
    values = matrix.to_numpy()
    fit_rows = values[_sample(len(values), settings.sweep_sample, settings.random_state)]
    score_rows = _sample(len(fit_rows), settings.silhouette_sample, settings.random_state)
    scored = fit_rows[score_rows]
    # The scored rows are the same at every k, only their labels change: their distances
    # are computed once, not once per k (silhouette_score's result is the same).
    distances = pairwise_distances(scored)
    records = []
    for k in settings.k_values:
        if k >= len(fit_rows):
            break
        fits = [_fit_kmeans(fit_rows, k, seed, settings.n_init) for seed in settings.stability_seeds]
        labels = [fit.labels_ for fit in fits]
        best = fits[0]
        stability = np.mean([adjusted_rand_score(a, b) for a, b in itertools.combinations(labels, 2)]) if len(fits) > 1 else 1.0
        scored_labels = best.labels_[score_rows]
        distinct = len(np.unique(scored_labels)) > 1
        records.append(
            {
                "k": k,
                "inertia": float(best.inertia_),
                "silhouette": float(silhouette_score(distances, scored_labels, metric="precomputed")) if distinct else float("nan"),
                "davies_bouldin": float(davies_bouldin_score(scored, scored_labels)) if distinct else float("nan"),
                "calinski_harabasz": float(calinski_harabasz_score(scored, scored_labels)) if distinct else float("nan"),
                "min_cluster_share": float(np.bincount(best.labels_, minlength=k).min() / len(best.labels_)),
                "stability_ari": float(stability),
            }
        )
    return pd.DataFrame.from_records(records)


def choose_k(sweep: pd.DataFrame, rule: SelectionRule) -> tuple[int, str]:
    """The k the rule picks, and why in one sentence."""
    if rule.force_k:
        return rule.force_k, rule.describe()
    allowed = sweep[
        sweep["k"].between(rule.k_min, rule.k_max)
        & sweep["min_cluster_share"].ge(rule.min_cluster_share)
        & sweep["stability_ari"].ge(rule.min_stability)
    ]
    if allowed.empty:
        in_range = sweep[sweep["k"].between(rule.k_min, rule.k_max)]
        fallback = in_range.sort_values(["stability_ari", "silhouette"], ascending=False).iloc[0]
        return int(fallback["k"]), (
            f"no k met the rule ({rule.describe()}); fell back to the most stable k in range, "
            f"k={int(fallback['k'])} (ARI {fallback['stability_ari']:.2f})"
        )
    good_enough = allowed[allowed["silhouette"] >= allowed["silhouette"].max() - rule.silhouette_tolerance]
    best = good_enough.sort_values("k").iloc[0]
    return int(best["k"]), (
        f"{rule.describe()}: k={int(best['k'])} (silhouette {best['silhouette']:.3f}, "
        f"best allowed {allowed['silhouette'].max():.3f})"
    )


def fit_segmentation(matrix: pd.DataFrame, rule: SelectionRule, settings: SweepSettings) -> SegmentationModel:
    """Sweep k, choose it by ``rule``, fit the final k-means and fix the id order."""
    needed = MIN_CUSTOMERS_PER_K * max(settings.k_values)
    if len(matrix) < needed:
        raise InputDataError(
            f"only {len(matrix)} customers after cleaning: too few to fit segments",
            source="scaled_customers",
            expected=f"at least {needed} customers to sweep k up to {max(settings.k_values)}",
            fix="Score small files with the nightly_rescore job, which reuses the stored segmentation.",
        )
    with fitting_threads(settings.threads):
        sweep = sweep_k(matrix, settings)
        k, reason = choose_k(sweep, rule)
        values = matrix.to_numpy()
        fit_rows = values[_sample(len(values), settings.fit_sample, settings.random_state)]
        kmeans = _fit_kmeans(fit_rows, k, settings.random_state, settings.n_init)
    spend_position = list(matrix.columns).index(SPEND_FEATURE)
    order = np.empty(k, dtype=int)
    order[np.argsort(kmeans.cluster_centers_[:, spend_position], kind="stable")] = np.arange(k)
    chosen = sweep.loc[sweep["k"].eq(k)]
    metrics = {"choice": reason}
    if not chosen.empty:
        metrics.update({key: float(chosen.iloc[0][key]) for key in ("silhouette", "min_cluster_share", "stability_ari")})
    pca = PCA(n_components=2, random_state=settings.random_state).fit(fit_rows)
    return SegmentationModel(
        kmeans=kmeans,
        order=order,
        feature_names=list(matrix.columns),
        sweep=sweep,
        rule=rule,
        metrics=metrics,
        pca=pca,
    )
