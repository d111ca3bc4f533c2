"""Look-alike prospects: who, among people known only by their demographics, resembles
the customers who accepted the last campaign, and which segment they would join.

A prospect has no purchases, recency or past campaigns (REFERENCE §5), so this model sees
only ``Year_Birth``, ``Education``, ``Marital_Status``, ``Income``, ``Kidhome`` and
``Teenhome``. Its ranking is much weaker than the customer response model's, and it reports
its own out-of-fold figures, never the customer model's. ``Year_Birth`` is used as it is
(no age at some date), so nothing here depends on a reference date.

- Response: a scikit-learn ``Pipeline`` (median imputation, cubic splines of birth year
  and income, one-hot categories, a regularised logistic regression), calibrated and
  evaluated out of fold as the response model is (``response.cross_fit``), with its
  stratified folds, in which customers equal on every column but ``ID`` share a
  fold. ROC-AUC and PR-AUC carry seeded bootstrap 95% intervals.
- Segment: a classifier of the same demographics onto the customers' k-means ``cluster``
  (a prospect has no spend to cluster on), with its own out-of-fold accuracy.

Prospects' categories and incomes are put on the customers' footing first
(``standard_demographics``, with the default ``CleaningRules``): mapped education and
marital statuses, income placeholders and implausible incomes as missing, impossible
birth years as missing; missing values are imputed inside the pipeline. No Dagster here.
"""

import platform
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from campaign_pipeline.errors import InputDataError, require_column
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.sources.prospects import PROSPECT_COLUMNS
from campaign_pipeline.transforms import fitting_threads
from campaign_pipeline.transforms.cleaning import (
    CleaningRules,
    category_rules,
    duplicate_groups,
    standard_categories,
    unknown_incomes,
)
from campaign_pipeline.transforms.response import (
    CalibratedPipeline,
    ModelSettings,
    cross_fit,
    final_model,
    grouped_folds,
    stratified_sample,
    top_decile_lift,
)
from campaign_pipeline.transforms.uncertainty import ranking_intervals

SEGMENT = "cluster"
CURVED_FEATURES = ("Year_Birth", "Income")
COUNT_FEATURES = ("Kidhome", "Teenhome")
CATEGORICAL_FEATURES = ("Education", "Marital_Status")
DEMOGRAPHIC_FEATURES = tuple(c for c in PROSPECT_COLUMNS if c != "ID")
# The cleaning defaults put prospects on the cleaned customers' footing.
DEFAULT_RULES = CleaningRules()


@dataclass(frozen=True)
class LookalikeSettings(ModelSettings):
    """Folds, seeds, calibration and sample size of the look-alike model: the response
    model's ``ModelSettings``, and the bootstrap of its out-of-fold figures."""

    resamples: int = 1000


def _preparation() -> ColumnTransformer:
    """Median imputation, then cubic splines of birth year and income (response is not
    linear in either), scaled child counts and one-hot categories."""
    impute = SimpleImputer(strategy="median")
    return ColumnTransformer(
        [
            ("curved", make_pipeline(clone(impute), SplineTransformer(n_knots=5, degree=3)), list(CURVED_FEATURES)),
            ("counts", make_pipeline(clone(impute), StandardScaler()), list(COUNT_FEATURES)),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False),
                list(CATEGORICAL_FEATURES),
            ),
        ]
    )


def response_pipeline() -> Pipeline:
    """Demographics -> P(accepts), uncalibrated."""
    return Pipeline([("prepare", _preparation()), ("model", LogisticRegression(C=1.0, max_iter=2000))])


def segment_pipeline() -> Pipeline:
    """Demographics -> the customers' segment (multinomial logistic regression)."""
    return Pipeline([("prepare", _preparation()), ("model", LogisticRegression(C=1.0, max_iter=2000))])


def standard_demographics(frame: pd.DataFrame, rules: CleaningRules = DEFAULT_RULES) -> pd.DataFrame:
    """The demographic columns on the cleaned customers' footing: the cleaning rules'
    category maps (values outside the known set become ``Other``), income placeholders and
    incomes above ``max_income`` as missing, birth years before ``min_birth_year`` as
    missing. Idempotent on cleaned customers."""
    demographics = frame[list(DEMOGRAPHIC_FEATURES)].copy()
    for column, mapping, allowed in category_rules(rules):
        demographics[column] = standard_categories(demographics[column].astype(str), mapping, allowed).astype(object)
    income = demographics["Income"].astype("float64")
    placeholder, implausible = unknown_incomes(income, rules)
    demographics["Income"] = income.mask(placeholder | implausible)
    birth = demographics["Year_Birth"].astype("float64")
    demographics["Year_Birth"] = birth.mask(birth.lt(rules.min_birth_year))
    return demographics


@dataclass
class LookalikeModel:
    """The fitted demographics-only response model and segment classifier, with their
    out-of-fold evidence. Nothing mutates it after fitting."""

    estimator: CalibratedPipeline
    segmenter: Pipeline
    segment_names: dict[int, str]
    metrics: dict  # the look-alike model's own out-of-fold figures
    oof: pd.DataFrame  # ID, Response, oof_probability, cluster, oof_segment of the customers evaluated
    rules: CleaningRules = DEFAULT_RULES
    data_sha256: str = ""
    versions: dict = field(default_factory=dict)
    fit_key: str = ""  # assets.fit_key of the fit: a rerun with the same one reuses this model

    @property
    def features(self) -> list[str]:
        return list(DEMOGRAPHIC_FEATURES)

    def predict_proba(self, people: pd.DataFrame) -> np.ndarray:
        """Calibrated P(accepts the campaign) from the demographic columns (others ignored)."""
        return self.estimator.predict_proba(standard_demographics(people, self.rules))[:, 1]

    def predict_segment(self, people: pd.DataFrame) -> np.ndarray:
        """The customer segment (cluster id) each person's demographics point to."""
        return self.segmenter.predict(standard_demographics(people, self.rules)).astype("int64")

    def segment_name(self, segments: np.ndarray) -> np.ndarray:
        return pd.Series(segments).map(self.segment_names).fillna("").to_numpy(dtype=object)

    def card(self) -> dict:
        return {
            "kind": "lookalike_model",
            "features": self.features,
            "segment_names": {str(k): v for k, v in self.segment_names.items()},
            "metrics": self.metrics,
            "training_data_sha256": self.data_sha256,
            "versions": self.versions,
            "fit_key": self.fit_key,
        }


def fit_lookalike_model(
    customers: pd.DataFrame,
    segment_names: dict[int, str],
    settings: LookalikeSettings = LookalikeSettings(),
    data_sha256: str = "",
) -> LookalikeModel:
    """Fit on labelled, clustered customers (``Response`` and ``cluster``; only their
    demographic columns are features). Out-of-fold figures come from the stratified grouped
    folds of the response model, on a fixed stratified sample above ``cv_sample`` rows,
    where the final models are fitted too."""
    for column, what in ((RESPONSE, "a Response column (0/1) to learn from"), (SEGMENT, "a cluster column")):
        require_column(
            customers, column, "the look-alike model cannot be fitted without it", source="clustered customers",
            expected=what,
        )  # fmt: skip
    y_all = customers[RESPONSE].to_numpy().astype(int)
    if len(np.unique(y_all)) < 2 or min(np.bincount(y_all, minlength=2)) < settings.folds:
        raise InputDataError(
            f"the look-alike model cannot be fitted: Response has {int(y_all.sum())} responders and "
            f"{int((1 - y_all).sum())} non-responders",
            source="clustered customers",
            column=RESPONSE,
            expected=f"at least {settings.folds} customers of each class",
        )
    rows = stratified_sample(y_all, settings.cv_sample, settings.random_state)
    trained, y = customers.iloc[rows], y_all[rows]
    features = standard_demographics(trained)
    segments = trained[SEGMENT].to_numpy().astype("int64")
    groups = duplicate_groups(
        trained.drop(columns=[RESPONSE, "conversion_rate", SEGMENT, "cluster_name"], errors="ignore")
    ).to_numpy()

    with fitting_threads(settings.threads):
        folds = grouped_folds(features, y, groups, settings.folds, settings.random_state)
        evidence = cross_fit(response_pipeline(), features, y, folds, settings.calibration)
        probability = evidence.probability
        oof_segment = np.zeros(len(y), dtype="int64")
        for train, test in folds:
            fitted = segment_pipeline().fit(features.iloc[train], segments[train])
            oof_segment[test] = fitted.predict(features.iloc[test])
        final = final_model(response_pipeline(), features, y, evidence, settings.calibration)
        segmenter = segment_pipeline().fit(features, segments)

    metrics = {
        "roc_auc": float(roc_auc_score(y, probability)),
        "pr_auc": float(average_precision_score(y, probability)),
        "brier": float(brier_score_loss(y, probability)),
        "top_decile_lift": top_decile_lift(y, probability),
        **ranking_intervals(y, probability, settings.resamples, settings.random_state),
        "base_response_rate": float(y.mean()),
        "segment_accuracy": float(np.mean(oof_segment == segments)),
        "segment_majority_share": float(np.bincount(segments).max() / len(segments)),
        "evaluated_rows": len(y),
        "trained_rows": len(y),
    }
    oof = pd.DataFrame(
        {
            "ID": trained["ID"].to_numpy(),
            RESPONSE: y,
            "oof_probability": probability,
            SEGMENT: segments,
            "oof_segment": oof_segment,
        }
    )
    return LookalikeModel(
        estimator=final,
        segmenter=segmenter,
        segment_names={int(k): str(v) for k, v in segment_names.items()},
        metrics=metrics,
        oof=oof,
        data_sha256=data_sha256,
        versions={"python": platform.python_version(), "scikit-learn": sklearn.__version__, "pandas": pd.__version__},
    )
