"""Calibration before and after issue 17: an ensemble of three calibrated pipelines per
fit, against one pipeline calibrated by its out-of-fold scores.

    python -m benchmarks.calibration [--csv CUSTOMERS.csv] [--score-rows 1000000]

On the customers of the file (cleaned and engineered as the graph does, at the default
reference date), for each candidate of ``transforms.response``:

- ``ensemble``, the former way: in each of the response model's stratified folds,
  ``CalibratedClassifierCV(pipeline, cv=3)`` (three pipelines, each with its sigmoid,
  averaged) fitted on the training rows and predicting the held-out fold;
- ``one_pipeline``, today's: ``response.cross_fit`` (one pipeline per fold, its
  out-of-fold scores calibrated by the other folds' scores).

For both it records the out-of-fold ROC-AUC, PR-AUC, Brier score, the calibration curve
(10 bins of equal count: mean predicted probability against the observed response rate),
the number of pipeline fits and the seconds to score ``--score-rows`` customers with the
final model. Results go to ``benchmarks/results/calibration-<rows>.json``.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV, calibration_curve

from benchmarks.run import REAL_CSV, RESULTS, machine
from campaign_pipeline.schemas import RESPONSE
from campaign_pipeline.settings import DEFAULT_REFERENCE_DATE
from campaign_pipeline.sources.reading import read_customers
from campaign_pipeline.transforms.cleaning import (
    CleaningRules,
    clean_customers,
    duplicate_groups,
)
from campaign_pipeline.transforms.features import engineer_features
from campaign_pipeline.transforms.response import (
    FEATURES,
    ModelSettings,
    candidate_pipelines,
    cross_fit,
    evaluate,
    final_model,
    grouped_folds,
)

ENSEMBLE_FOLDS = 3  # CalibratedClassifierCV(cv=3), as the response model was calibrated before


def curve(y: np.ndarray, probability: np.ndarray) -> list[dict]:
    observed, predicted = calibration_curve(y, probability, n_bins=10, strategy="quantile")
    return [{"predicted": round(float(p), 4), "observed": round(float(o), 4)} for p, o in zip(predicted, observed)]


def compare(csv_path: Path, score_rows: int) -> dict:
    settings = ModelSettings()
    raw, _ = read_customers(str(csv_path))
    cleaned, _, _ = clean_customers(raw.reset_index(drop=True), CleaningRules())
    customers = engineer_features(cleaned, pd.Timestamp(DEFAULT_REFERENCE_DATE))
    features, y = customers[list(FEATURES)], customers[RESPONSE].to_numpy().astype(int)
    groups = duplicate_groups(customers.drop(columns=[RESPONSE, "conversion_rate"], errors="ignore")).to_numpy()
    folds = grouped_folds(features, y, groups, settings.folds, settings.random_state)
    many = features.sample(score_rows, replace=True, random_state=0)

    results = {}
    for name, pipeline in candidate_pipelines(settings.random_state).items():
        start = time.perf_counter()
        ensemble_probability = np.zeros(len(y))
        for train, test in folds:
            fitted = CalibratedClassifierCV(clone(pipeline), method=settings.calibration, cv=ENSEMBLE_FOLDS)
            ensemble_probability[test] = fitted.fit(features.iloc[train], y[train]).predict_proba(features.iloc[test])[:, 1]
        ensemble_final = CalibratedClassifierCV(clone(pipeline), method=settings.calibration, cv=ENSEMBLE_FOLDS).fit(features, y)
        ensemble_fit_seconds = time.perf_counter() - start

        start = time.perf_counter()
        evidence = cross_fit(pipeline, features, y, folds, settings.calibration)
        one_final = final_model(pipeline, features, y, evidence, settings.calibration)
        one_fit_seconds = time.perf_counter() - start

        scoring = {}
        for label, model in (("ensemble", ensemble_final), ("one_pipeline", one_final)):
            start = time.perf_counter()
            model.predict_proba(many)
            scoring[label] = round(time.perf_counter() - start, 3)
        results[name] = {
            "ensemble": {
                **{k: round(v, 4) for k, v in evaluate(y, ensemble_probability).items()},
                "calibration_curve": curve(y, ensemble_probability),
                "pipeline_fits": len(folds) * (ENSEMBLE_FOLDS + 1) + ENSEMBLE_FOLDS + 1,
                "fit_seconds": round(ensemble_fit_seconds, 3),
                "score_seconds": scoring["ensemble"],
            },
            "one_pipeline": {
                **{k: round(v, 4) for k, v in evaluate(y, evidence.probability).items()},
                "calibration_curve": curve(y, evidence.probability),
                "pipeline_fits": len(folds) + 1,
                "fit_seconds": round(one_fit_seconds, 3),
                "score_seconds": scoring["one_pipeline"],
            },
        }
    return {"rows": len(y), "csv": str(csv_path), "score_rows": score_rows, "candidates": results, "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=REAL_CSV, help="customer file (default: the reference file)")
    parser.add_argument("--score-rows", type=int, default=1_000_000, help="customers to time scoring on")
    args = parser.parse_args(argv)
    result = compare(args.csv, args.score_rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"calibration-{result['rows']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for name, ways in result["candidates"].items():
        for way, figures in ways.items():
            print(
                f"{name:20} {way:13} ROC-AUC {figures['roc_auc']:.4f}  PR-AUC {figures['pr_auc']:.4f}  "
                f"Brier {figures['brier']:.4f}  fits {figures['pipeline_fits']:3}  fit {figures['fit_seconds']:6.2f} s  "
                f"score {figures['score_seconds']:6.2f} s"
            )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
