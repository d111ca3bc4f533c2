"""Response model: who accepts the next campaign, and is contacting them worth it.

All preprocessing lives inside a scikit-learn ``Pipeline``; candidates are compared by
out-of-fold predictions from ``StratifiedGroupKFold`` in which customers that are equal
on every column but ``ID`` share a fold (duplicates split across folds leak labels).
Probabilities are calibrated inside each training fold, and the contact rule is the
break-even one, ``p x revenue > cost``: a fixed rule, so nothing is tuned on the rows it
is then judged on.
"""

import platform
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import ACCEPTED_COLUMNS, PURCHASE_COLUMNS, RESPONSE, SPEND_COLUMNS
from campaign_pipeline.transforms.cleaning import duplicate_groups

NUMERIC_FEATURES = (
    "Income",
    "Kidhome",
    "Teenhome",
    "Recency",
    *SPEND_COLUMNS,
    *PURCHASE_COLUMNS,
    "NumWebVisitsMonth",
    *ACCEPTED_COLUMNS,
    "Complain",
    "age",
    "tenure_months",
    "customer_value_index",
    "total_purchases",
    "loyalty_score",
    "family_size",
    "income_per_capita",
)
CATEGORICAL_FEATURES = ("Education", "Marital_Status", "preferred_channel")
FEATURES = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)


def candidate_pipelines(random_state: int = 0) -> dict[str, Pipeline]:
    """The models compared: a regularised logistic regression and binned gradient boosting."""
    numeric, categorical = list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)
    encode = OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False)
    linear = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                        ("categorical", encode, categorical),
                    ]
                ),
            ),
            ("model", LogisticRegression(C=0.3, max_iter=2000)),
        ]
    )
    boosted = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [("numeric", "passthrough", numeric), ("categorical", clone(encode), categorical)]
                ),
            ),
            (
                "model",
                HistGradientBoostingClassifier(
                    learning_rate=0.05,
                    max_iter=300,
                    max_leaf_nodes=15,
                    min_samples_leaf=20,
                    l2_regularization=1.0,
                    random_state=random_state,
                ),
            ),
        ]
    )
    return {"logistic_regression": linear, "gradient_boosting": boosted}


def calibrated(pipeline: Pipeline, method: str = "sigmoid") -> CalibratedClassifierCV:
    """Calibration fitted by an inner 3-fold split of whatever rows it is given."""
    return CalibratedClassifierCV(pipeline, method=method, cv=3)


def campaign_outcome(contacted: np.ndarray, responded: np.ndarray, cost: float, revenue: float) -> dict:
    """Customers contacted, responders among them, and the money."""
    n_contacted = int(contacted.sum())
    responders = int(responded[contacted].sum())
    return {
        "contacted": n_contacted,
        "responders": responders,
        "response_rate": responders / n_contacted if n_contacted else 0.0,
        "cost": n_contacted * cost,
        "revenue": responders * revenue,
        "profit": responders * revenue - n_contacted * cost,
    }


def break_even_probability(cost: float, revenue: float) -> float:
    return cost / revenue


def top_decile_lift(y: np.ndarray, probability: np.ndarray) -> float:
    top = probability >= np.quantile(probability, 0.9)
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def profit_curve(y: np.ndarray, probability: np.ndarray, cost: float, revenue: float, points: int = 50) -> pd.DataFrame:
    """Profit of contacting the top share of customers by score, for shares 0..100%."""
    order = np.argsort(-probability, kind="stable")
    cumulative_responders = np.concatenate([[0], np.cumsum(y[order])])
    counts = np.unique(np.linspace(0, len(y), points + 1).round().astype(int))
    return pd.DataFrame(
        {
            "contact_share": counts / len(y),
            "contacted": counts,
            "profit": cumulative_responders[counts] * revenue - counts * cost,
        }
    )


def out_of_fold_probabilities(
    estimator, features: pd.DataFrame, y: np.ndarray, groups: np.ndarray, folds: int, random_state: int
) -> np.ndarray:
    """Calibrated probabilities for every row from a model that never saw its fold."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    probability = np.zeros(len(y))
    for train, test in splitter.split(features, y, groups):
        fitted = clone(estimator).fit(features.iloc[train], y[train])
        probability[test] = fitted.predict_proba(features.iloc[test])[:, 1]
    return probability


def evaluate(y: np.ndarray, probability: np.ndarray, cost: float, revenue: float) -> dict:
    contacted = probability * revenue > cost
    outcome = campaign_outcome(contacted, y.astype(bool), cost, revenue)
    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "pr_auc": float(average_precision_score(y, probability)),
        "brier": float(brier_score_loss(y, probability)),
        "top_decile_lift": top_decile_lift(y, probability),
        **{f"oof_{key}": value for key, value in outcome.items()},
    }


@dataclass
class ResponseModel:
    """The chosen calibrated pipeline, its contact rule and its out-of-fold evidence."""

    estimator: CalibratedClassifierCV
    name: str
    features: list[str]
    cost: float
    revenue: float
    metrics: dict
    comparison: pd.DataFrame
    oof: pd.DataFrame  # ID, Response, out-of-fold probability
    data_sha256: str = ""
    versions: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return break_even_probability(self.cost, self.revenue)

    def predict_proba(self, customers: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(customers[self.features])[:, 1]

    def card(self) -> dict:
        return {
            "kind": "response_model",
            "model": self.name,
            "features": self.features,
            "contact_rule": f"contact when p x {self.revenue:g} > {self.cost:g} (p > {self.threshold:.3f})",
            "metrics": self.metrics,
            "training_data_sha256": self.data_sha256,
            "versions": self.versions,
        }


@dataclass(frozen=True)
class ModelSettings:
    folds: int = 5
    random_state: int = 0
    calibration: str = "sigmoid"
    cv_sample: int = 200_000


def fit_response_model(
    customers: pd.DataFrame, cost: float, revenue: float, settings: ModelSettings, data_sha256: str = ""
) -> ResponseModel:
    """Compare candidates out of fold, keep the best by PR-AUC then profit, refit it on all rows."""
    if RESPONSE not in customers.columns:
        raise InputDataError(
            "the model cannot be trained without the target",
            source="cleaned customers",
            column=RESPONSE,
            expected="a Response column (0/1) to train on; scoring-only files are rescored with the last model",
        )
    y = customers[RESPONSE].to_numpy().astype(int)
    if len(np.unique(y)) < 2 or min(np.bincount(y, minlength=2)) < settings.folds:
        raise InputDataError(
            f"the model cannot be fitted: Response has {int(y.sum())} responders and {int((1 - y).sum())} "
            "non-responders",
            source="cleaned customers",
            column=RESPONSE,
            expected=f"at least {settings.folds} customers of each class",
            fix="The last good model is kept; rescore with the nightly_rescore job.",
        )
    features = customers[list(FEATURES)]
    groups = duplicate_groups(customers.drop(columns=[RESPONSE, "conversion_rate"], errors="ignore")).to_numpy()

    evaluation_rows = np.arange(len(y))
    if len(y) > settings.cv_sample:
        # At scale the comparison runs on a stratified sample; the final fit uses every row.
        rng = np.random.default_rng(settings.random_state)
        evaluation_rows = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(y == label), round(settings.cv_sample * np.mean(y == label)), replace=False)
                    for label in (0, 1)
                ]
            )
        )
    ev_features, ev_y, ev_groups = features.iloc[evaluation_rows], y[evaluation_rows], groups[evaluation_rows]

    results, oof = {}, {}
    for name, pipeline in candidate_pipelines(settings.random_state).items():
        estimator = calibrated(pipeline, settings.calibration)
        oof[name] = out_of_fold_probabilities(
            estimator, ev_features, ev_y, ev_groups, settings.folds, settings.random_state
        )
        results[name] = evaluate(ev_y, oof[name], cost, revenue)
    comparison = pd.DataFrame.from_dict(results, orient="index").rename_axis("model").reset_index()
    best = comparison.sort_values(["pr_auc", "oof_profit"], ascending=False).iloc[0]["model"]

    final = calibrated(candidate_pipelines(settings.random_state)[best], settings.calibration).fit(features, y)
    oof_frame = pd.DataFrame(
        {"ID": customers["ID"].to_numpy()[evaluation_rows], RESPONSE: ev_y, "oof_probability": oof[best]}
    )
    return ResponseModel(
        estimator=final,
        name=str(best),
        features=list(FEATURES),
        cost=cost,
        revenue=revenue,
        metrics={**results[best], "evaluated_rows": int(len(ev_y)), "trained_rows": int(len(y))},
        comparison=comparison,
        oof=oof_frame,
        data_sha256=data_sha256,
        versions={"python": platform.python_version(), "scikit-learn": sklearn.__version__, "pandas": pd.__version__},
    )
