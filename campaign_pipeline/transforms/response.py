"""Response model: who accepts the next campaign, and is contacting them worth it.

All preprocessing lives inside a scikit-learn ``Pipeline``; candidates are compared by
out-of-fold predictions from stratified folds in which customers that are equal
on every column but ``ID`` share a fold (duplicates split across folds leak labels).
Probabilities are calibrated by out-of-fold scores only (``cross_fit``): each fold's by a
sigmoid fitted on the other folds' scores, the final model's by one fitted on all of them.
The contact rule is the break-even one of ``economics.CampaignPrices.worth_contacting``: a fixed rule, so nothing
is tuned on the rows it is then judged on.
"""

import hashlib
import platform
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sklearn
from pandas.core.util.hashing import combine_hash_arrays  # pandas < 3 is pinned; tested against hash_pandas_object
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from campaign_pipeline.economics import CampaignPrices
from campaign_pipeline.errors import InputDataError, require_column
from campaign_pipeline.schemas import ACCEPTED_COLUMNS, PURCHASE_COLUMNS, RESPONSE, SCORE_SOURCES, SPEND_COLUMNS
from campaign_pipeline.transforms import fitting_threads
from campaign_pipeline.transforms.cleaning import duplicate_groups
from campaign_pipeline.transforms.uncertainty import INTERVAL_SEED, ranking_intervals

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
                # Early stopping on a 10% split: on small files it stops near 100 trees
                # instead of 300, and at scale it keeps the fit time proportional.
                HistGradientBoostingClassifier(
                    learning_rate=0.05,
                    max_iter=300,
                    max_leaf_nodes=15,
                    min_samples_leaf=20,
                    l2_regularization=1.0,
                    early_stopping=True,
                    validation_fraction=0.1,
                    n_iter_no_change=10,
                    random_state=random_state,
                ),
            ),
        ]
    )
    return {"logistic_regression": linear, "gradient_boosting": boosted}


class ScoreCalibration:
    """Maps a pipeline's decision scores to probabilities, as ``CalibratedClassifierCV``
    does: ``sigmoid`` is Platt's (a logistic regression on the score), ``isotonic`` a
    monotone step function. Fitted on out-of-fold scores only."""

    def __init__(self, method: str = "sigmoid"):
        if method not in ("sigmoid", "isotonic"):
            raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', not {method!r}")
        self.method = method

    def fit(self, scores: np.ndarray, y: np.ndarray) -> "ScoreCalibration":
        if self.method == "sigmoid":
            self.model_ = LogisticRegression(C=np.inf).fit(scores.reshape(-1, 1), y)
        else:
            self.model_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, y)
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        if self.method == "sigmoid":
            return self.model_.predict_proba(scores.reshape(-1, 1))[:, 1]
        return self.model_.predict(scores)


@dataclass(frozen=True)
class CalibratedPipeline:
    """One pipeline fitted on every training row, and the calibration of its out-of-fold
    scores. Scoring transforms each row once, where ``CalibratedClassifierCV`` keeps a
    pipeline per calibration fold and averages them."""

    pipeline: Pipeline
    calibration: ScoreCalibration

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """(n, 2): P(not) and P(accepts), as scikit-learn classifiers give them."""
        probability = self.calibration.predict(self.pipeline.decision_function(features))
        return np.column_stack([1 - probability, probability])


@dataclass(frozen=True)
class CrossFit:
    """A candidate's out-of-fold evidence: the pipeline fitted on each fold's training rows,
    its decision score for every row from the fit that never saw it, and those scores
    calibrated by a calibration fitted on the other folds' scores (so no calibrated
    probability saw its own row either)."""

    folds: list[tuple[np.ndarray, np.ndarray]]
    fold_pipelines: list[Pipeline]
    scores: np.ndarray
    probability: np.ndarray


def cross_fit(pipeline: Pipeline, features: pd.DataFrame, y: np.ndarray, folds, method: str) -> CrossFit:
    """Fit ``pipeline`` once per fold; calibrate its out-of-fold scores fold by fold."""
    scores, fold_pipelines = np.zeros(len(y)), []
    for train, test in folds:
        fitted = clone(pipeline).fit(features.iloc[train], y[train])
        scores[test] = fitted.decision_function(features.iloc[test])
        fold_pipelines.append(fitted)
    probability = np.zeros(len(y))
    for train, test in folds:
        probability[test] = ScoreCalibration(method).fit(scores[train], y[train]).predict(scores[test])
    return CrossFit(list(folds), fold_pipelines, scores, probability)


def final_model(pipeline: Pipeline, features: pd.DataFrame, y: np.ndarray, evidence: CrossFit, method: str):
    """The pipeline refitted on every row, calibrated by all its out-of-fold scores (what
    ``CalibratedClassifierCV(ensemble=False)`` fits, without repeating the folds)."""
    return CalibratedPipeline(
        clone(pipeline).fit(features, y), ScoreCalibration(method).fit(evidence.scores, y)
    )


def top_decile_lift(y: np.ndarray, probability: np.ndarray) -> float:
    top = probability >= np.quantile(probability, 0.9)
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def profit_curve(
    y: np.ndarray, probability: np.ndarray, prices: CampaignPrices, points: int = 50, customers: int | None = None
) -> pd.DataFrame:
    """Profit of contacting the top share of customers by score, for shares 0..100%; when
    ``y`` and ``probability`` are a sample of ``customers``, scaled up to them."""
    order = np.argsort(-probability, kind="stable")
    cumulative_responders = np.concatenate([[0], np.cumsum(y[order])])
    counts = np.unique(np.linspace(0, len(y), points + 1).round().astype(int))
    scale = 1 if customers is None else customers / len(y)
    return pd.DataFrame(
        {
            "contact_share": counts / len(y),
            "contacted": counts * scale,
            "profit": (cumulative_responders[counts] * prices.revenue_per_response - counts * prices.cost_per_contact) * scale,
        }
    )


def grouped_folds(
    features: pd.DataFrame, y: np.ndarray, groups: np.ndarray, folds: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions of stratified folds in which a group never spans two folds.
    When every customer is its own group (the default cleaning drops duplicates) that is a
    plain stratified split, which ``StratifiedKFold`` makes without
    ``StratifiedGroupKFold``'s per-group Python loop (seconds at tens of thousands of rows)."""
    if len(np.unique(groups)) == len(groups):
        return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state).split(features, y))
    return list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state).split(features, y, groups))


def evaluate(y: np.ndarray, probability: np.ndarray) -> dict:
    """How well ``probability`` ranks and calibrates ``y``; no prices, so changing them
    never refits the model."""
    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "pr_auc": float(average_precision_score(y, probability)),
        "brier": float(brier_score_loss(y, probability)),
        "top_decile_lift": top_decile_lift(y, probability),
    }


OUT_OF_FOLD_SCORE, MODEL_SCORE = SCORE_SOURCES


def training_keys(customers: pd.DataFrame, features: list[str]) -> np.ndarray:
    """One hash per labelled row of its ID, the model's features and its Response: equal
    only for the very rows a model was trained on. The same hashes as
    ``hash_pandas_object(customers[columns], index=False)``, combined column by column
    rather than from a copy of those columns (100 MB at a million customers)."""
    columns = ["ID", *features, RESPONSE]
    hashes = (pd.util.hash_pandas_object(customers[column], index=False).to_numpy() for column in columns)
    return combine_hash_arrays(hashes, len(columns))


SCORING_CHUNK = 100_000


@dataclass
class ResponseModel:
    """The chosen calibrated pipeline, its contact rule and its out-of-fold evidence."""

    estimator: CalibratedPipeline
    name: str
    features: list[str]
    metrics: dict  # out of fold: evaluate()'s figures, their bootstrap intervals, rows
    comparison: pd.DataFrame
    importance: pd.DataFrame  # permutation importance on a held-out fold (holdout_importance)
    oof: pd.DataFrame  # ID, Response, out-of-fold probability of every customer it was trained on
    oof_keys: np.ndarray  # training_keys of those customers, in the same order
    data_sha256: str = ""
    versions: dict = field(default_factory=dict)
    fit_key: str = ""  # assets.fit_key of the fit: a rerun with the same one reuses this model

    def predict_proba(self, customers: pd.DataFrame) -> np.ndarray:
        """P(accepts) per customer, a chunk of ``SCORING_CHUNK`` rows at a time: the
        pipeline's matrices then take tens of megabytes, however many customers there are.
        Each chunk's rows are taken before its feature columns, which copies those rows alone."""
        chunks = range(0, len(customers), SCORING_CHUNK)
        return np.concatenate(
            [self.estimator.predict_proba(customers.iloc[start : start + SCORING_CHUNK][self.features])[:, 1] for start in chunks]
        )

    def honest_scores(self, customers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(probability, score source) per customer. A labelled customer the model was
        trained on (same ID, features and Response) gets its out-of-fold probability, from
        a fit that never saw it; every other customer (a new file, an unlabelled one, a
        changed customer) the stored model's. So no score is an in-sample one."""
        probability = self.predict_proba(customers)
        source = np.full(len(customers), MODEL_SCORE, dtype=object)
        if RESPONSE in customers.columns:
            position = pd.Index(self.oof_keys).get_indexer(training_keys(customers, self.features))
            trained = position >= 0
            probability[trained] = self.oof["oof_probability"].to_numpy()[position[trained]]
            source[trained] = OUT_OF_FOLD_SCORE
        return probability, source

    def card(self) -> dict:
        return {
            "kind": "response_model",
            "model": self.name,
            "features": self.features,
            "metrics": self.metrics,
            "training_data_sha256": self.data_sha256,
            "versions": self.versions,
            "fit_key": self.fit_key,
        }


@dataclass(frozen=True)
class ModelSettings:
    """Above ``cv_sample`` rows the candidates are compared, the chosen one is fitted and
    permutation importance is measured on a fixed stratified sample, so every customer the
    model is trained on has an out-of-fold score. Every customer is scored either way;
    those outside the sample are out of sample for the model."""

    folds: int = 5
    random_state: int = 0
    calibration: str = "sigmoid"
    cv_sample: int = 20_000
    # OpenMP threads while fitting; None uses every core (gradient boosting on 20,000 rows
    # fits 1.7x faster on two). Set 1 where other processes share the cores: OpenMP threads
    # that wait for a busy core spin and slow the fit many-fold.
    threads: int | None = None


def stratified_sample(y: np.ndarray, size: int, random_state: int) -> np.ndarray:
    """Sorted row positions of a fixed sample of ``size`` rows with the class shares of
    ``y``; every row when there are no more than ``size``."""
    if len(y) <= size:
        return np.arange(len(y))
    rng = np.random.default_rng(random_state)
    return np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(y == label), round(size * np.mean(y == label)), replace=False)
                for label in np.unique(y)
            ]
        )
    )


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a frame, for the model card."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def fit_response_model(
    customers: pd.DataFrame, settings: ModelSettings, data_sha256: str = ""
) -> ResponseModel:
    """Compare candidates out of fold, keep the best by PR-AUC then Brier score, refit it on the
    rows it was compared on (all of them, or the stratified sample of ``settings`` at scale)."""
    require_column(
        customers,
        RESPONSE,
        "the model cannot be trained without the target",
        source="cleaned customers",
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
    evaluation_rows = stratified_sample(y, settings.cv_sample, settings.random_state)
    ev_features, ev_y = features.iloc[evaluation_rows], y[evaluation_rows]
    ev_groups = duplicate_groups(
        customers.iloc[evaluation_rows].drop(columns=[RESPONSE, "conversion_rate"], errors="ignore")
    ).to_numpy()

    folds = grouped_folds(ev_features, ev_y, ev_groups, settings.folds, settings.random_state)
    candidates = candidate_pipelines(settings.random_state)
    with fitting_threads(settings.threads):
        evidence = {
            name: cross_fit(pipeline, ev_features, ev_y, folds, settings.calibration) for name, pipeline in candidates.items()
        }
        results = {name: evaluate(ev_y, fitted.probability) for name, fitted in evidence.items()}
        comparison = pd.DataFrame.from_dict(results, orient="index").rename_axis("model").reset_index()
        best = comparison.sort_values(["pr_auc", "brier"], ascending=[False, True]).iloc[0]["model"]
        final = final_model(candidates[best], ev_features, ev_y, evidence[best], settings.calibration)
        importance = holdout_importance(evidence[best], ev_features, ev_y, settings)
    trained = customers.iloc[evaluation_rows]
    oof_frame = pd.DataFrame({"ID": trained["ID"].to_numpy(), RESPONSE: ev_y, "oof_probability": evidence[best].probability})
    # Bootstrapped once here: they depend on the fit alone, not on what is scored later.
    intervals = ranking_intervals(ev_y, evidence[best].probability, random_state=INTERVAL_SEED)
    return ResponseModel(
        estimator=final,
        name=str(best),
        features=list(FEATURES),
        metrics={**results[best], **intervals, "evaluated_rows": int(len(ev_y)), "trained_rows": int(len(ev_y))},
        comparison=comparison,
        importance=importance,
        oof=oof_frame,
        oof_keys=training_keys(trained, list(FEATURES)),
        data_sha256=data_sha256,
        versions={"python": platform.python_version(), "scikit-learn": sklearn.__version__, "pandas": pd.__version__},
    )


def holdout_importance(
    evidence: CrossFit, features: pd.DataFrame, y: np.ndarray, settings: ModelSettings, repeats: int = 5
) -> pd.DataFrame:
    """Permutation importance (drop in PR-AUC) of the chosen pipeline as fitted on all but
    the first fold, measured on that held-out fold, so it is not an in-sample figure. The
    pipeline is measured without its calibration: calibration maps scores monotonically,
    which keeps the ranking PR-AUC scores.

    The figures are ``sklearn.inspection.permutation_importance``'s on the features (same
    seeds, same permutations), but the held-out rows are prepared once: every transform of
    the ``prepare`` step reads one column, so permuting a feature's rows permutes exactly
    its prepared columns, and only the model scores each permutation."""
    _, test = evidence.folds[0]
    prepare, model = evidence.fold_pipelines[0][:-1], evidence.fold_pipelines[0][-1]
    prepared, y_test = prepare.transform(features.iloc[test]), y[test]
    baseline = average_precision_score(y_test, model.decision_function(prepared))
    # As permutation_importance: one seed from random_state, and from it one fresh
    # generator per feature whose shuffles compound over the repeats.
    seed = np.random.RandomState(settings.random_state).randint(np.iinfo(np.int32).max + 1)
    drops = []
    for columns in prepared_columns(prepare[-1], list(features.columns)):
        generator, permuted, order = np.random.RandomState(seed), prepared.copy(), np.arange(len(prepared))
        scores = []
        for _ in range(repeats):
            generator.shuffle(order)
            permuted[:, columns] = permuted[order][:, columns]
            scores.append(average_precision_score(y_test, model.decision_function(permuted)))
        drops.append(baseline - np.array(scores))
    return (
        pd.DataFrame({"feature": list(features.columns), "importance": np.mean(drops, axis=1), "std": np.std(drops, axis=1)})
        .sort_values("importance", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def prepared_columns(prepare: ColumnTransformer, features: list[str]) -> list[list[int]]:
    """For each of ``features``, the positions of its columns in ``prepare``'s output: one
    per numeric feature, one per kept category (and one for the infrequent ones) of a
    one-hot encoded feature."""
    positions: dict[str, list[int]] = {feature: [] for feature in features}
    for name, transformer, columns in prepare.transformers_:
        if name == "remainder":
            continue
        outputs = prepare.output_indices_[name]
        if isinstance(transformer, OneHotEncoder):
            infrequent = transformer.infrequent_categories_
            widths = [len(kept) - len(rare if rare is not None else []) + (rare is not None) for kept, rare in zip(transformer.categories_, infrequent)]
        else:
            widths = [1] * len(columns)
        if sum(widths) != outputs.stop - outputs.start:
            raise ValueError(f"cannot tell which prepared columns come from {name}'s features {list(columns)}")
        start = outputs.start
        for column, width in zip(columns, widths):
            positions[column] = list(range(start, start + width))
            start += width
    return [positions[feature] for feature in features]


# The seed analysis's profile of likely responders, as testable conditions.
SEED_PROFILE = {
    "accepted a previous campaign": lambda c: c["loyalty_score"] >= 1,
    "tenure 20-30 months": lambda c: c["tenure_months"].between(20, 30),
    "recency <= 40 days": lambda c: c["Recency"] <= 40,
    "meat spend > 16 MU": lambda c: c["MntMeatProducts"] > 16,
    "sweets spend >= 1 MU": lambda c: c["MntSweetProducts"] >= 1,
    "at most one child": lambda c: c["children"] <= 1,
}


def _rule_row(label: str, source: str, mask: pd.Series, y: pd.Series) -> dict:
    covered = int(mask.sum())
    rate = float(y[mask].mean()) if covered else float("nan")
    return {
        "source": source,
        "rule": label,
        "customers": covered,
        "share": covered / len(y),
        "response_rate": rate,
        "lift": rate / float(y.mean()) if covered and y.mean() > 0 else float("nan"),
    }


RESPONDER_SAMPLE = 100_000  # customers the responder tree grows on, at most


def responder_rules(
    customers: pd.DataFrame, break_even: float, random_state: int = 0, max_depth: int = 3, sample: int = RESPONDER_SAMPLE
) -> pd.DataFrame:
    """Readable rules beside the seed's profile: leaves of a depth-3 tree whose response
    rate clears break-even, each seed condition alone, and all seed conditions together,
    each with its coverage, response rate and lift over every customer. The tree is grown
    on a fixed stratified sample above ``sample`` customers."""
    y = customers[RESPONSE].astype(int)
    numeric = customers[list(NUMERIC_FEATURES)].fillna(customers[list(NUMERIC_FEATURES)].median())
    grown_on = stratified_sample(y.to_numpy(), sample, random_state)
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=max(20, len(grown_on) // 50), random_state=random_state
    ).fit(numeric.iloc[grown_on], y.iloc[grown_on])
    structure = tree.tree_
    rows = []

    def walk(node: int, conditions: list[str], mask: np.ndarray) -> None:
        if structure.children_left[node] == -1:
            if mask.any() and y[mask].mean() >= break_even:
                rows.append(_rule_row(" and ".join(conditions) or "everyone", "tree (depth 3)", pd.Series(mask, index=y.index), y))
            return
        name, threshold = numeric.columns[structure.feature[node]], structure.threshold[node]
        goes_left = numeric[name].to_numpy() <= threshold
        walk(structure.children_left[node], [*conditions, f"{name} <= {threshold:g}"], mask & goes_left)
        walk(structure.children_right[node], [*conditions, f"{name} > {threshold:g}"], mask & ~goes_left)

    walk(0, [], np.ones(len(customers), dtype=bool))
    seed_masks = {label: condition(customers) for label, condition in SEED_PROFILE.items()}
    rows += [_rule_row(label, "seed profile", mask, y) for label, mask in seed_masks.items()]
    rows.append(_rule_row("all seed conditions together", "seed profile", np.logical_and.reduce(list(seed_masks.values())), y))
    return pd.DataFrame(rows)


def business_goals(contacted_rate: float, base_rate: float, expected_rate: float = 0.40) -> dict:
    """The seed's goal "raise the response rate by 15%" read both ways, and the business's
    40% expectation, against the response rate among the customers the model contacts."""
    relative, points = base_rate * 1.15, base_rate + 0.15
    return {
        "base_response_rate": base_rate,
        "contacted_response_rate": contacted_rate,
        "goal_relative_15pct": relative,
        "goal_plus_15_points": points,
        "business_expectation": expected_rate,
        "meets_relative_goal": bool(contacted_rate >= relative),
        "meets_points_goal": bool(contacted_rate >= points),
        "meets_business_expectation": bool(contacted_rate >= expected_rate),
        "statement": (
            f"Among contacted customers the response rate is {contacted_rate:.1%} (honest scores) against "
            f"{base_rate:.1%} when everyone is contacted: the goal '+15%' is met read as a relative rise "
            f"(>= {relative:.1%}): {'yes' if contacted_rate >= relative else 'no'}; read as +15 points "
            f"(>= {points:.1%}): {'yes' if contacted_rate >= points else 'no'}; the business's "
            f"{expected_rate:.0%} expectation: {'met' if contacted_rate >= expected_rate else 'not met'}."
        ),
    }
