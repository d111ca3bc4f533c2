"""The campaign analysis as one plain pandas and scikit-learn script: the fair reference.

Written the way a data scientist would write this job in one file, with no project code,
so that the Dagster project can be timed against it (``python -m benchmarks.run --paired``).
It runs the same steps: read, clean, engineer features at a fixed reference date, a k-means
sweep with silhouette, one model comparison with out-of-fold ROC-AUC, scores for every
customer, the break-even contact rule, profit and per-cluster impact.

    python benchmarks/plain.py CUSTOMERS.csv OUT_DIR

Writes ``customers.parquet``, ``k_sweep.csv``, ``cluster_impact.csv`` and ``summary.json``
to OUT_DIR. Every random step has a fixed seed, so reruns give the same files.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED = 0
REFERENCE_DATE = pd.Timestamp("2014-12-31")  # the file's snapshot date (REFERENCE §1), never today
COST, REVENUE = 3.0, 11.0  # MU per contact and per acceptance, unless the file says otherwise
# Sample sizes as the project's defaults, so that both do the same amount of work.
SWEEP_SAMPLE = 10_000  # k-means sweep on at most this many customers...
SILHOUETTE_SAMPLE = 5_000  # ...and silhouette (quadratic) on at most this many of them
MODEL_SAMPLE = 20_000  # models compared and fitted on at most this many; everyone is scored

SPEND = ["MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"]
PURCHASES = ["NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases"]
ACCEPTED = ["AcceptedCmp1", "AcceptedCmp2", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5"]
CATEGORICAL = ["Education", "Marital_Status", "preferred_channel"]
NUMERIC = [
    "Income", "Kidhome", "Teenhome", "Recency", *SPEND, *PURCHASES, "NumWebVisitsMonth", *ACCEPTED,
    "Complain", "age", "tenure_months", "customer_value_index", "total_purchases", "loyalty_score",
    "family_size", "income_per_capita",
]


def read_customers(path):
    """TAB, comma or semicolon separated, whichever the header line uses; dates day-first
    with '-', '/' or '.', or ISO."""
    with open(path, encoding="utf-8-sig") as file:
        header = file.readline()
    sep = max("\t;,", key=header.count)
    df = pd.read_csv(path, sep=sep, encoding="utf-8-sig")
    dates = df["Dt_Customer"].astype(str).str.replace(r"[/.]", "-", regex=True)
    iso = dates.str.match(r"\d{4}-").all()
    df["Dt_Customer"] = pd.to_datetime(dates, format="%Y-%m-%d" if iso else "%d-%m-%Y")
    return df


def clean(df):
    counts = {"rows_read": len(df)}
    # Copies of one customer differ only by ID; copies that disagree on Response are dropped.
    same = [c for c in df.columns if c not in ("ID", "Response")]
    conflicting = df.groupby(same, dropna=False)["Response"].transform("nunique") > 1
    df = df[~conflicting].drop_duplicates(subset=same)
    counts["duplicates_dropped"] = counts["rows_read"] - len(df)
    impossible_age = df["Year_Birth"] < 1901
    counts["impossible_birth_years_dropped"] = int(impossible_age.sum())
    df = df[~impossible_age].copy()
    df.loc[df["Income"] == 666666, "Income"] = np.nan
    counts["incomes_imputed"] = int(df["Income"].isna().sum())
    df["Income"] = df["Income"].fillna(df.groupby("Education")["Income"].transform("median"))
    df["Income"] = df["Income"].fillna(df["Income"].median())
    df["Education"] = df["Education"].replace({"2n Cycle": "Master"})
    df["Marital_Status"] = df["Marital_Status"].replace({"Alone": "Single", "Absurd": "Other", "YOLO": "Other"})
    counts["rows_kept"] = len(df)
    return df.reset_index(drop=True), counts


def add_features(df):
    df["age"] = REFERENCE_DATE.year - df["Year_Birth"]
    df["age_group"] = pd.cut(df["age"], [0, 29, 39, 49, 59, 200], labels=["<30", "30-39", "40-49", "50-59", "60+"])
    d = df["Dt_Customer"]
    df["tenure_months"] = (REFERENCE_DATE.year - d.dt.year) * 12 + REFERENCE_DATE.month - d.dt.month - (d.dt.day > REFERENCE_DATE.day)
    df["customer_value_index"] = df[SPEND].sum(axis=1)
    df["total_purchases"] = df[PURCHASES].sum(axis=1)
    df["total_interactions"] = df["total_purchases"] + df["NumWebVisitsMonth"]
    df["loyalty_score"] = df[ACCEPTED].sum(axis=1)
    df["children"] = df["Kidhome"] + df["Teenhome"]
    df["family_size"] = df["children"] + np.where(df["Marital_Status"].isin(["Married", "Together"]), 2, 1)
    df["income_per_capita"] = df["Income"] / df["family_size"]
    channels = df[["NumStorePurchases", "NumWebPurchases", "NumCatalogPurchases"]].to_numpy()
    df["preferred_channel"] = np.where(channels.max(axis=1) > 0, np.array(["store", "web", "catalog"])[channels.argmax(axis=1)], "none")
    df["recency_segment"] = pd.cut(df["Recency"], [-1, 30, 90, np.inf], labels=["Recent", "Medium", "Old"])
    return df


def segment(df):
    """k-means on log spend, purchases, income and the number of children, standardised;
    k = 2..10 swept on a sample, the best silhouette kept, everyone assigned."""
    X = np.column_stack([np.log1p(df[["customer_value_index", "total_purchases", "Income"]]), df["children"]])
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(SEED)
    sample = X[rng.choice(len(X), SWEEP_SAMPLE, replace=False)] if len(X) > SWEEP_SAMPLE else X
    sweep, models = [], {}
    for k in range(2, 11):
        km = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(sample)
        score = silhouette_score(sample, km.labels_, sample_size=min(SILHOUETTE_SAMPLE, len(sample)), random_state=SEED)
        sweep.append({"k": k, "inertia": km.inertia_, "silhouette": score})
        models[k] = km
    sweep = pd.DataFrame(sweep)
    best_k = int(sweep.loc[sweep["silhouette"].idxmax(), "k"])
    df["cluster"] = models[best_k].predict(X)
    return sweep, best_k


def compare_models(df):
    """Calibrated logistic regression against gradient boosting, 5-fold stratified
    out-of-fold ROC-AUC on (a sample of) the customers; the better one is refitted on
    that sample and scores everyone. Customers it was fitted on keep their out-of-fold score."""
    train = df.index
    if len(df) > MODEL_SAMPLE:
        train, _ = train_test_split(df.index, train_size=MODEL_SAMPLE, stratify=df["Response"], random_state=SEED)
        train = np.sort(train)
    X, y = df.loc[train, NUMERIC + CATEGORICAL], df.loc[train, "Response"]
    prepare = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False), CATEGORICAL),
    ])
    models = {
        "calibrated_logistic_regression": Pipeline([
            ("prepare", prepare),
            ("model", CalibratedClassifierCV(LogisticRegression(C=0.3, max_iter=2000), method="sigmoid", cv=3)),
        ]),
        "gradient_boosting": Pipeline([
            ("prepare", prepare),
            ("model", HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, early_stopping=True, random_state=SEED)),
        ]),
    }
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    oof = {name: cross_val_predict(model, X, y, cv=folds, method="predict_proba")[:, 1] for name, model in models.items()}
    auc = {name: roc_auc_score(y, p) for name, p in oof.items()}
    best = max(auc, key=auc.get)
    model = models[best].fit(X, y)
    df["score"] = model.predict_proba(df[NUMERIC + CATEGORICAL])[:, 1]
    df["score_source"] = "model"
    df.loc[train, "score"] = oof[best]
    df.loc[train, "score_source"] = "out_of_fold"
    return auc, best


def economics(df):
    """Contact when the expected revenue covers the cost: p * revenue >= cost (p >= 3/11)."""
    cost = float(df["Z_CostContact"].iloc[0]) if "Z_CostContact" in df else COST
    revenue = float(df["Z_Revenue"].iloc[0]) if "Z_Revenue" in df else REVENUE
    df["expected_profit"] = df["score"] * revenue - cost
    df["contact"] = df["expected_profit"] >= 0
    df["profit_if_contacted"] = df["Response"] * revenue - cost
    contacted = df[df["contact"]]
    campaign = {
        "cost_per_contact": cost,
        "revenue_per_acceptance": revenue,
        "break_even_rate": cost / revenue,
        "customers": len(df),
        "contacted": len(contacted),
        "response_rate_all": df["Response"].mean(),
        "response_rate_contacted": contacted["Response"].mean() if len(contacted) else None,
        "profit_contact_all": df["profit_if_contacted"].sum(),
        "profit_contact_rule": contacted["profit_if_contacted"].sum(),
        "expected_profit_contact_rule": contacted["expected_profit"].sum(),
    }
    impact = df.groupby("cluster").agg(
        customers=("ID", "size"),
        income=("Income", "mean"),
        spend=("customer_value_index", "mean"),
        purchases=("total_purchases", "mean"),
        recency=("Recency", "mean"),
        children=("children", "mean"),
        response_rate=("Response", "mean"),
        mean_score=("score", "mean"),
        profit_contact_all=("profit_if_contacted", "sum"),
    )
    impact["contacted"] = contacted.groupby("cluster").size().reindex(impact.index, fill_value=0)
    impact["profit_contact_rule"] = contacted.groupby("cluster")["profit_if_contacted"].sum().reindex(impact.index, fill_value=0)
    impact["expected_profit_contact_rule"] = contacted.groupby("cluster")["expected_profit"].sum().reindex(impact.index, fill_value=0)
    # Retarget the cluster where contacting by the rule earns the most.
    campaign["retarget_cluster"] = int(impact["profit_contact_rule"].idxmax())
    return campaign, impact.reset_index()


def main(csv_path, out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df, counts = clean(read_customers(csv_path))
    df = add_features(df)
    sweep, best_k = segment(df)
    auc, best_model = compare_models(df)
    campaign, impact = economics(df)

    df.to_parquet(out / "customers.parquet", index=False)
    sweep.to_csv(out / "k_sweep.csv", index=False)
    impact.to_csv(out / "cluster_impact.csv", index=False)
    summary = {
        "source": str(csv_path),
        "reference_date": REFERENCE_DATE.date().isoformat(),
        "cleaning": counts,
        "k": best_k,
        "silhouette": sweep.loc[sweep["k"] == best_k, "silhouette"].item(),
        "oof_roc_auc": auc,
        "model": best_model,
        "campaign": campaign,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(json.dumps({"k": best_k, "oof_roc_auc": auc, "contacted": campaign["contacted"],
                      "profit_contact_rule": campaign["profit_contact_rule"]}, default=float))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
