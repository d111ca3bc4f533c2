"""Seeded synthetic customers with the reference file's schema, distributions and quirks.

This is the project's embedded default input: it needs no download, works at any size
(vectorised numpy; a million customers in a few seconds) and gives the same frame for the
same ``(n, seed)``. What it models, calibrated on the public reference file:

- demographics: birth years around 1969, education and marital status at the file's
  rates (including ``2n Cycle``, ``Basic`` and the odd ``Alone``/``Absurd``/``YOLO``);
- income driven by education and age; children less likely in richer households;
- spend on six product families driven by income and children (wines and meat dominate),
  purchases by channel rising with spend, web visits falling with it, deals with children;
- acceptance of campaigns 1-5, more likely for high spenders;
- a planted response signal: prior acceptance (strongest), low recency, long tenure,
  high spend and catalogue use, fewer children, living alone;
- the quirks the cleaning step must handle: missing incomes (~1.1%), the 666,666
  placeholder, a few incomes above 150,000, impossible birth years (1893, 1899, 1900),
  ~8% rows duplicating another on every column but ``ID`` (some with a different
  ``Response``), day-first dates, and constant ``Z_CostContact`` = 3, ``Z_Revenue`` = 11.

Command line: ``python -m campaign_pipeline.synthetic --customers N --seed S --out PATH``.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS: tuple[str, ...] = (
    "ID", "Year_Birth", "Education", "Marital_Status", "Income", "Kidhome", "Teenhome",
    "Dt_Customer", "Recency", "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts",
    "MntSweetProducts", "MntGoldProds", "NumDealsPurchases", "NumWebPurchases",
    "NumCatalogPurchases", "NumStorePurchases", "NumWebVisitsMonth", "AcceptedCmp3",
    "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2", "Complain",
    "Z_CostContact", "Z_Revenue", "Response",
)  # fmt: skip

EDUCATION = {"Graduation": 0.503, "PhD": 0.217, "Master": 0.165, "2n Cycle": 0.091, "Basic": 0.024}
EDUCATION_INCOME_EFFECT = {"Graduation": 0.0, "PhD": 0.08, "Master": 0.03, "2n Cycle": -0.06, "Basic": -0.85}
MARITAL = {
    "Married": 0.3857, "Together": 0.2589, "Single": 0.2143, "Divorced": 0.1036, "Widow": 0.0344,
    "Alone": 3 / 2240, "Absurd": 2 / 2240, "YOLO": 2 / 2240,
}  # fmt: skip
# Mean share of spend per family, the order of the Mnt* columns.
SPEND_SHARES = np.array([0.50, 0.045, 0.27, 0.065, 0.045, 0.075])
FIRST_ENROLMENT, LAST_ENROLMENT = np.datetime64("2012-07-30"), np.datetime64("2014-06-29")
SNAPSHOT = np.datetime64("2014-12-31")
# Rates per 2,240 customers in the reference file.
DUPLICATE_SHARE = 182 / 2240
CONFLICTING_DUPLICATE_SHARE = 19 / 176
MISSING_INCOME_SHARE = 24 / 2240
HIGH_INCOMES_PER_2240 = 7
IMPOSSIBLE_BIRTH_YEARS = (1893, 1899, 1900)


def _per_2240(n: int, count: float) -> int:
    return int(round(n * count / 2240))


def _choice(rng: np.random.Generator, options: dict[str, float], size: int) -> np.ndarray:
    probabilities = np.array(list(options.values()))
    return rng.choice(np.array(list(options), dtype=object), size=size, p=probabilities / probabilities.sum())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _distinct_customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` customers without the duplicate quirk."""
    year_birth = np.clip(np.round(rng.normal(1969, 11.5, n)), 1940, 1996).astype(np.int64)
    education = _choice(rng, EDUCATION, n)
    marital = _choice(rng, MARITAL, n)
    age = 2014 - year_birth

    education_effect = pd.Series(education).map(EDUCATION_INCOME_EFFECT).to_numpy()
    log_income = 10.78 + education_effect + 0.006 * (age - 45) + rng.normal(0, 0.42, n)
    income = np.clip(np.exp(log_income), 1730, 113_000).round()
    income_z = (log_income - 10.78) / 0.45

    kidhome = np.minimum(rng.poisson(np.exp(-1.05 - 0.9 * income_z - 0.02 * (age - 45))), 2)
    teenhome = np.minimum(rng.poisson(np.exp(-0.75 - 0.1 * income_z + 0.035 * (age - 45))), 2)

    enrolment_days = int((LAST_ENROLMENT - FIRST_ENROLMENT).astype(int))
    enrolled = FIRST_ENROLMENT + rng.integers(0, enrolment_days + 1, n).astype("timedelta64[D]")
    tenure_months = (SNAPSHOT - enrolled).astype(int) / 30.44
    recency = rng.integers(0, 100, n)

    # Spend: income and children drive a heavy-tailed total, split by a Dirichlet mix.
    log_total = 5.55 + 1.7 * income_z - 1.1 * kidhome - 0.35 * teenhome + 0.012 * tenure_months + rng.normal(0, 0.45, n)
    total = np.clip(np.exp(log_total), 5, 2500)
    mix = rng.gamma(shape=SPEND_SHARES * 8.0, size=(n, len(SPEND_SHARES)))
    mix /= mix.sum(axis=1, keepdims=True)
    spend = np.floor(total[:, None] * mix).astype(np.int64)
    spend = np.minimum(spend, np.array([1493, 199, 1725, 259, 263, 362]))

    level = np.log1p(total) / np.log1p(2500)  # 0 (spends little) .. 1 (spends most)
    children = kidhome + teenhome
    deals = np.minimum(rng.poisson(0.8 + 1.0 * children + 1.2 * level * (children > 0)), 15)
    web = np.minimum(rng.poisson(0.6 + 6.0 * level**1.5), 27)
    catalog = np.minimum(rng.poisson(0.05 + 6.5 * level**3), 28)
    store = np.minimum(rng.poisson(1.5 + 8.0 * level**1.5), 13)
    web_visits = np.minimum(rng.poisson(np.clip(8.2 - 5.5 * level + 0.8 * kidhome, 0.5, None)), 20)

    accepted = {
        "AcceptedCmp3": _sigmoid(-2.6 + rng.normal(0, 0.3, n) - 0.3 * level),
        "AcceptedCmp4": _sigmoid(-4.6 + 3.0 * level),
        "AcceptedCmp5": _sigmoid(-9.5 + 9.0 * level**2 + 1.5 * (income_z > 1)),
        "AcceptedCmp1": _sigmoid(-8.5 + 7.5 * level**2 + 1.2 * (income_z > 1)),
        "AcceptedCmp2": _sigmoid(-6.0 + 2.0 * level),
    }
    accepted = {name: (rng.random(n) < p).astype(np.int64) for name, p in accepted.items()}
    prior_acceptances = sum(accepted.values())

    catalog_share = catalog / np.maximum(web + catalog + store, 1)
    living_alone = np.isin(marital, ["Single", "Divorced", "Widow", "Alone", "Absurd", "YOLO"])
    response_logit = (
        -3.85
        + 1.6 * (prior_acceptances > 0)
        + 0.55 * prior_acceptances
        - 0.035 * (recency - 49)
        + 0.05 * (tenure_months - 18)
        + 1.2 * level
        + 1.3 * catalog_share
        - 0.55 * teenhome
        - 0.2 * kidhome
        + 0.55 * living_alone
        + rng.normal(0, 0.2, n)
    )
    response = (rng.random(n) < _sigmoid(response_logit)).astype(np.int64)

    frame = pd.DataFrame(
        {
            "Year_Birth": year_birth,
            "Education": education,
            "Marital_Status": marital,
            "Income": income.astype(float),
            "Kidhome": kidhome.astype(np.int64),
            "Teenhome": teenhome.astype(np.int64),
            "Dt_Customer": enrolled,
            "Recency": recency.astype(np.int64),
            "MntWines": spend[:, 0],
            "MntFruits": spend[:, 1],
            "MntMeatProducts": spend[:, 2],
            "MntFishProducts": spend[:, 3],
            "MntSweetProducts": spend[:, 4],
            "MntGoldProds": spend[:, 5],
            "NumDealsPurchases": deals.astype(np.int64),
            "NumWebPurchases": web.astype(np.int64),
            "NumCatalogPurchases": catalog.astype(np.int64),
            "NumStorePurchases": store.astype(np.int64),
            "NumWebVisitsMonth": web_visits.astype(np.int64),
            **accepted,
            "Complain": (rng.random(n) < 0.0094).astype(np.int64),
            "Z_CostContact": np.full(n, 3, dtype=np.int64),
            "Z_Revenue": np.full(n, 11, dtype=np.int64),
            "Response": response,
        }
    )
    return frame


def _plant_quirks(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> None:
    """Income gaps, the placeholder, very high incomes and impossible birth years, in place."""
    rows = rng.permutation(len(frame))
    taken = 0

    def take(count: int) -> np.ndarray:
        nonlocal taken
        chosen = rows[taken : taken + count]
        taken += count
        return chosen

    income = frame["Income"].to_numpy()
    income[take(_per_2240(n, MISSING_INCOME_SHARE * 2240))] = np.nan
    income[take(_per_2240(n, 1))] = 666666.0
    high = take(_per_2240(n, HIGH_INCOMES_PER_2240))
    income[high] = rng.uniform(150_500, 163_000, len(high)).round()
    frame["Income"] = income
    impossible = take(_per_2240(n, len(IMPOSSIBLE_BIRTH_YEARS)))
    frame.loc[frame.index[impossible], "Year_Birth"] = rng.choice(IMPOSSIBLE_BIRTH_YEARS, len(impossible))


def generate_customers(n: int = 2240, seed: int = 0) -> pd.DataFrame:
    """``n`` customers as the file holds them: the 29 columns in order, ``Income`` with
    missing values, ``Dt_Customer`` as day-first ``dd-mm-yyyy`` text."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    copies = int(round(n * DUPLICATE_SHARE)) if n >= 20 else 0
    frame = _distinct_customers(n - copies, rng)
    _plant_quirks(frame, n, rng)

    if copies:
        # A copy is the same customer under a new ID; some copies disagree on Response.
        originals = rng.choice(len(frame), copies, replace=copies > len(frame))
        duplicated = frame.iloc[originals].copy()
        flip = rng.random(copies) < CONFLICTING_DUPLICATE_SHARE
        duplicated.loc[flip, "Response"] = 1 - duplicated.loc[flip, "Response"]
        frame = pd.concat([frame, duplicated], ignore_index=True)
        frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)

    id_space = max(11_192, 5 * n)
    frame.insert(0, "ID", rng.choice(id_space, n, replace=False).astype(np.int64))
    # Format each distinct date once: a few hundred strings instead of one per row.
    codes, dates = pd.factorize(frame["Dt_Customer"])
    frame["Dt_Customer"] = pd.DatetimeIndex(dates).strftime("%d-%m-%Y").to_numpy(dtype=object)[codes]
    return frame[list(COLUMNS)]


def write_customers_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write like the reference file: TAB separated, CRLF line ends, empty missing income."""
    frame.to_csv(path, sep="\t", index=False, lineterminator="\r\n", float_format="%.0f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a seeded synthetic customer file.")
    parser.add_argument("--customers", type=int, default=2240, help="number of customers (rows)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", type=Path, required=True, help="output CSV path")
    args = parser.parse_args(argv)
    write_customers_csv(generate_customers(args.customers, args.seed), args.out)
    print(f"Wrote {args.customers} synthetic customers to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
