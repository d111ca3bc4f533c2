"""Seeded synthetic customers shaped like the public ``marketing_campaign.csv`` file.

This is the project's embedded default input. It needs no download, works at any size
(vectorised numpy: a million customers in a few seconds) and gives the same frame, and
the same CSV bytes, for the same ``(n, seed)``. Every number below is an aggregate
measured on the reference file (rates, quantiles, regression slopes); none of its rows
is copied.

What is modelled, in generation order:

- people: birth year (1940-1996, centred on 1969), education and marital status at the
  file's rates; income from education and age with the file's flat-topped spread
  (``Basic`` far lower); small children more likely in poorer and younger households,
  teenagers in middle-aged, middle-income ones; enrolment day uniform over
  2012-07-30..2014-06-29; recency uniform over 0..99 days.
- spending: a latent log total that climbs an S-curve of income (children and a short
  tenure push the curve right). This gives the file's two-humped spend: households that
  buy little and affluent small households that buy a lot. Each of the six product
  families follows the total through its own measured curve with correlated noise
  (wine and meat dominate; gold is a larger share for small spenders).
- purchases: web, catalogue and store purchases rise with spend (catalogue only for the
  big spenders), deals rise with children, web visits fall with income.
- campaigns: a hidden receptiveness trait, never a column, shared by campaigns 1-5 and
  the last campaign; campaigns 1, 2, 4 and 5 mostly reach high spenders, 3 anyone.
- response (the last campaign): the planted signal a model should find. Prior
  acceptances (strongest), low recency, long tenure, meat and wine spend, catalogue use,
  no teenagers or small children, living alone, a PhD. The hidden trait and chance keep
  it imperfect: gradient boosting reaches a ROC-AUC near 0.87, as on the real file.
- quirks, at the file's rates scaled with ``n``: blank incomes, the 666,666 placeholder,
  incomes above 150,000, birth years 1893/1899/1900, the marital statuses
  ``Alone``/``Absurd``/``YOLO``, and rows repeating another customer under a new ``ID``
  (some of them with the opposite ``Response``).

Chunks, so that any size streams in bounded memory: the rows are made in
``chunk_sizes(n)`` chunks of at most ``CHUNK_ROWS`` (nearly equal, so none is tiny), each
from its own random stream: chunk 0 from the seed's own stream, chunk ``k`` from the
``k``-th child of ``SeedSequence(seed)``. Chunk 0 keeping the seed's stream keeps samples
of up to ``CHUNK_ROWS`` customers (the embedded 2,240 among them) what the generator gave
before it was chunked. Each quirk's count for the whole file is split over the chunks
exactly, in proportion to their sizes. A repeat copies a customer of its own chunk and
rows are shuffled within their chunk, so a chunk can be written once it is made; IDs
continue from one chunk to the next, so they stay unique. ``iter_customer_chunks`` gives
the chunks, ``generate_customers`` joins them and ``write_synthetic_customers`` writes
them as they are made: the frame and the file hold the same rows for the same
``(n, seed)``, whatever the machine.

Bad lines, for tests of how the pipeline refuses or sets aside lines: ``bad_lines=K``
spoils one field on each of ``K`` lines at positions drawn from the seed (the seed
sequence's child 0, which no chunk uses, so the other lines stay as in the clean file).
Each breaks exactly one rule of ``BAD_LINE_RULES``, enforced when the file is read
(``sources.reading``) or by the ``RawCustomers`` contract; a manifest next to the file,
``<file>.bad_lines.csv``, lists each line, column, value and rule.

Command line: ``python -m campaign_pipeline.sources.synthetic --customers N --seed S
--out PATH [--bad-lines K]``.
"""

import argparse
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from campaign_pipeline.schemas import INPUT_COLUMNS, SPEND_COLUMNS

# The file's own column order, which the generator also draws its campaigns in.
CAMPAIGN_COLUMNS = tuple(c for c in INPUT_COLUMNS if c.startswith("AcceptedCmp"))

REFERENCE_ROWS = 2240
# Rows are made and written in chunks of at most this many (a fixed constant: the rows of
# a file depend on its size and seed only). About 25 MB of frame per chunk.
CHUNK_ROWS = 100_000
# How the file is written: like the reference file (TAB, CRLF, whole-number incomes).
CSV_FORMAT = {"sep": "\t", "lineterminator": "\r\n", "float_format": "%.0f", "index": False}
# Education: share of customers, income centre (money units) and relative income spread.
EDUCATION = ("Graduation", "PhD", "Master", "2n Cycle", "Basic")
EDUCATION_SHARE = np.array([0.503, 0.217, 0.165, 0.091, 0.024])
EDUCATION_INCOME_CENTRE = np.array([52_000.0, 55_500.0, 51_500.0, 47_000.0, 20_500.0])
EDUCATION_INCOME_SPREAD = np.array([1.0, 0.95, 0.95, 1.05, 0.3])
# Marital status: the five usual ones by share, then the odd ones by count per 2,240.
MARITAL = ("Married", "Together", "Single", "Divorced", "Widow", "Alone", "Absurd", "YOLO")
USUAL_MARITAL_SHARE = np.array([0.3857, 0.2589, 0.2143, 0.1036, 0.0344])
RARE_MARITAL_PER_REFERENCE = (3, 2, 2)
LIVES_ALONE = np.array([False, False, True, True, True, True, True, True])

FIRST_ENROLMENT, LAST_ENROLMENT = np.datetime64("2012-07-30"), np.datetime64("2014-06-29")
ENROLMENT_DAYS = int((LAST_ENROLMENT - FIRST_ENROLMENT).astype(int)) + 1
# Tenure is measured at the extraction, 185 days after the last enrolment (the reference
# file's Recency is consistent with that). Pipeline runs choose their own reference date.
EXTRACTION_DAYS_AFTER_LAST_ENROLMENT = 185
DAYS_PER_MONTH = 30.44

# log1p(amount) of each product family (SPEND_COLUMNS order) as a quadratic in the log
# total spend, and the residual spread and correlation, fitted on the reference file.
SPEND_CURVES = np.array(
    [
        [-1.683, 1.119, 0.002],  # wines
        [0.718, -0.302, 0.095],  # fruits
        [0.552, 0.181, 0.076],  # meat
        [0.891, -0.299, 0.099],  # fish
        [0.617, -0.256, 0.091],  # sweets
        [-2.433, 1.474, -0.081],  # gold
    ]
)
SPEND_NOISE_SD = np.array([0.665, 1.148, 0.533, 1.218, 1.185, 0.912])
SPEND_NOISE_CORRELATION = np.array(
    [
        [1.00, -0.46, -0.27, -0.48, -0.45, -0.35],
        [-0.46, 1.00, 0.30, 0.44, 0.43, 0.16],
        [-0.27, 0.30, 1.00, 0.31, 0.28, -0.13],
        [-0.48, 0.44, 0.31, 1.00, 0.44, 0.14],
        [-0.45, 0.43, 0.28, 0.44, 1.00, 0.11],
        [-0.35, 0.16, -0.13, 0.14, 0.11, 1.00],
    ]
)
SPEND_MAXIMUM = np.array([1493, 199, 1725, 259, 263, 362])

# Quirks, as counts per 2,240 customers in the reference file.
MISSING_INCOMES = 24
PLACEHOLDER_INCOME = 666_666.0
HIGH_INCOMES = 7
IMPOSSIBLE_BIRTH_YEARS = (1893, 1899, 1900)
COMPLAINTS = 21
# 201 rows repeat another customer on every column but ID and Response; 19 of them carry
# the opposite Response, which leaves 182 repeats on every column but ID.
REPEATED_ROWS = 201
CONFLICTING_REPEATS = 19


def _per_reference(n: int, count: float) -> int:
    """A count per 2,240 customers, scaled to ``n``."""
    return int(round(n * count / REFERENCE_ROWS))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bernoulli(rng: np.random.Generator, probability: np.ndarray | float, n: int) -> np.ndarray:
    return (rng.random(n) < probability).astype(np.int64)


def _people(n: int, rare_marital: list[int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Birth year, education and marital codes, income, children, enrolment day, tenure
    in months and recency. ``rare_marital`` holds the exact counts of the odd statuses."""
    # A beta on 1940..1996 gives the file's mean and spread without clipped spikes.
    year_birth = 1940 + np.round(56 * rng.beta(2.44, 2.27, n)).astype(np.int64)
    education = rng.choice(len(EDUCATION), n, p=EDUCATION_SHARE / EDUCATION_SHARE.sum())
    marital = rng.choice(len(USUAL_MARITAL_SHARE), n, p=USUAL_MARITAL_SHARE / USUAL_MARITAL_SHARE.sum())
    rare_rows = np.split(rng.choice(n, sum(rare_marital), replace=False), np.cumsum(rare_marital)[:-1])
    for code, rows in enumerate(rare_rows, start=len(USUAL_MARITAL_SHARE)):
        marital[rows] = code

    # The file's income is flat-topped and nearly symmetric: a uniform plus a normal part.
    spread = 23_000 * rng.uniform(-1, 1, n) + 13_000 * rng.normal(size=n)
    income = EDUCATION_INCOME_CENTRE[education] + 450 * (2014 - year_birth - 45) + EDUCATION_INCOME_SPREAD[education] * spread
    income = np.clip(income, 1_730, 120_000).round()

    income_10k = (income - 45_000) / 10_000
    kid_logit = 0.9 - income_10k - 0.15 * income_10k**2 + 0.05 * (year_birth - 1969)
    kidhome = _bernoulli(rng, 0.9 * _sigmoid(kid_logit), n) * (1 + _bernoulli(rng, 0.05, n))
    # Teenagers need parents old enough and sit in middle incomes.
    income_fit = (income - 55_000) / np.where(income < 55_000, 22_000, 16_000)
    too_young = 6 * _sigmoid((year_birth - 1978) / 3)
    teen_logit = 1.9 - income_fit**2 - too_young - 0.08 * np.maximum(1955 - year_birth, 0)
    teenhome = _bernoulli(rng, _sigmoid(teen_logit), n) * (1 + _bernoulli(rng, 0.05, n))

    enrolled_day = rng.integers(0, ENROLMENT_DAYS, n)
    tenure_months = (ENROLMENT_DAYS - 1 + EXTRACTION_DAYS_AFTER_LAST_ENROLMENT - enrolled_day) / DAYS_PER_MONTH
    return {
        "Year_Birth": year_birth,
        "Education": education,
        "Marital_Status": marital,
        "Income": income,
        "Kidhome": kidhome,
        "Teenhome": teenhome,
        "Dt_Customer": enrolled_day,
        "tenure_months": tenure_months,
        "Recency": rng.integers(0, 100, n),
    }


def _spending(people: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The latent log total spend and the six product-family amounts (n x 6)."""
    n = len(people["Income"])
    tenure = people["tenure_months"] - 18
    # Children move the income at which spending takes off; so does a short tenure.
    takeoff = 42_000 + 8_000 * people["Kidhome"] + 6_000 * people["Teenhome"]
    position = (people["Income"] - takeoff) / 10_000 + 0.05 * tenure + rng.normal(0, 0.5, n)
    floor = rng.normal(3.7, 0.75, n) + 0.02 * tenure
    ceiling = rng.normal(7.45, 0.25, n)
    log_total = floor + (ceiling - floor) * _sigmoid(position)

    covariance = SPEND_NOISE_CORRELATION * np.outer(SPEND_NOISE_SD, SPEND_NOISE_SD)
    log_amounts = rng.normal(size=(n, len(SPEND_COLUMNS))) @ np.linalg.cholesky(covariance).T
    for power, coefficients in enumerate(SPEND_CURVES.T):
        log_amounts += coefficients * (log_total**power)[:, None]
    # In place: at five million customers each n x 6 temporary is 240 MB.
    amounts = np.expm1(log_amounts, out=log_amounts)
    np.clip(np.floor(amounts, out=amounts), 0, SPEND_MAXIMUM, out=amounts)
    return log_total, amounts.astype(np.int64)


def _purchases(people: dict[str, np.ndarray], log_total: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Purchases by channel and web visits: smooth curves of spend, income and children
    with multiplicative noise."""
    n = len(log_total)
    children = people["Kidhome"] + people["Teenhome"]
    tenure = people["tenure_months"] - 18

    def counts(mean: np.ndarray, noise_sd: float, low: int, high: int) -> np.ndarray:
        return np.clip(np.round(mean * np.exp(rng.normal(0, noise_sd, n))), low, high).astype(np.int64)

    # Nearly everyone used one deal; families hunt more of them once they spend at all.
    deal_appetite = 0.1 + children**1.3 * (0.3 + 1.5 * _sigmoid((log_total - 5) / 0.5)) + 0.02 * tenure
    deals = 1 + rng.poisson(np.clip(deal_appetite, 0.05, None) * rng.gamma(4.0, 0.25, n))
    web_visits = 1.9 + 5.0 * _sigmoid(-(people["Income"] - 60_000) / 9_000) + 0.7 * children + 0.06 * tenure
    return {
        "NumDealsPurchases": np.minimum(deals, 15),
        "NumWebPurchases": counts(0.6 + 5.4 * _sigmoid((log_total - 5.2) / 0.6), 0.35, 0, 27),
        "NumCatalogPurchases": counts(0.03 + 6.8 * _sigmoid((log_total - 6.25) / 0.6), 0.35, 0, 28),
        "NumStorePurchases": counts(2.3 + 6.3 * _sigmoid((log_total - 5.8) / 0.45), 0.3, 2, 13),
        "NumWebVisitsMonth": np.clip(np.round(web_visits + rng.normal(0, 1.5, n)), 0, 20).astype(np.int64),
    }


def _campaigns(
    people: dict[str, np.ndarray],
    log_total: np.ndarray,
    amounts: np.ndarray,
    catalog_purchases: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Acceptance of campaigns 1-5 and of the last one (``Response``)."""
    n = len(log_total)
    receptive = rng.normal(size=n)
    rich = (people["Income"] - 75_000) / 10_000
    accepted = {
        "AcceptedCmp3": _bernoulli(rng, _sigmoid(-2.75 + 0.4 * receptive), n),
        "AcceptedCmp4": _bernoulli(rng, _sigmoid(-6.45 + 4.6 * _sigmoid((log_total - 5.2) / 0.6) + receptive), n),
        "AcceptedCmp5": _bernoulli(rng, _sigmoid(-1.5 + 2.0 * rich + 1.2 * receptive), n),
        "AcceptedCmp1": _bernoulli(rng, _sigmoid(-1.75 + 1.8 * rich + 1.2 * receptive), n),
        "AcceptedCmp2": _bernoulli(rng, _sigmoid(-4.1 + 1.0 * rich + 1.2 * receptive), n),
    }
    prior = sum(accepted.values())

    response_logit = (
        -3.3
        + 1.5 * (prior > 0)
        + 0.7 * np.maximum(prior - 1, 0)
        + 0.2 * receptive
        - 0.034 * (people["Recency"] - 49.5)
        + 0.09 * (people["tenure_months"] - 18)
        + 0.25 * (np.log1p(amounts[:, SPEND_COLUMNS.index("MntMeatProducts")]) - 4.2)
        + 0.15 * (np.log1p(amounts[:, SPEND_COLUMNS.index("MntWines")]) - 5.1)
        + 0.1 * catalog_purchases
        - 1.1 * (people["Teenhome"] > 0)
        - 0.15 * people["Kidhome"]
        + 0.95 * LIVES_ALONE[people["Marital_Status"]]
        + 0.3 * (people["Education"] == EDUCATION.index("PhD"))
    )
    return {**accepted, "Response": _bernoulli(rng, _sigmoid(response_logit), n)}


def _distinct_customers(n: int, rare_marital: list[int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` different customers, every column but ``ID`` as a numpy array: education and
    marital status as codes, ``Dt_Customer`` as a day number from the first enrolment."""
    people = _people(n, rare_marital, rng)
    log_total, amounts = _spending(people, rng)
    purchases = _purchases(people, log_total, rng)
    campaigns = _campaigns(people, log_total, amounts, purchases["NumCatalogPurchases"], rng)
    del people["tenure_months"]
    return {
        **people,
        **dict(zip(SPEND_COLUMNS, amounts.T)),
        **purchases,
        **campaigns,
        "Complain": _bernoulli(rng, COMPLAINTS / REFERENCE_ROWS, n),
        "Z_CostContact": np.full(n, 3, dtype=np.int64),
        "Z_Revenue": np.full(n, 11, dtype=np.int64),
    }


def _file_counts(n: int) -> dict[str, int]:
    """How many rows of an ``n``-customer file carry each quirk."""
    return {
        "repeats": _per_reference(n, REPEATED_ROWS),
        "conflicting_repeats": _per_reference(n, CONFLICTING_REPEATS),
        **{
            status: _per_reference(n, count)
            for status, count in zip(MARITAL[len(USUAL_MARITAL_SHARE) :], RARE_MARITAL_PER_REFERENCE)
        },
        "missing_incomes": _per_reference(n, MISSING_INCOMES),
        "placeholder_incomes": max(_per_reference(n, 1), 1 if n >= 1000 else 0),
        "high_incomes": _per_reference(n, HIGH_INCOMES),
        "impossible_birth_years": _per_reference(n, len(IMPOSSIBLE_BIRTH_YEARS)),
    }


def _chunk_counts(file_counts: dict[str, int], start: int, stop: int, n: int) -> dict[str, int]:
    """The share of each file count that falls to rows ``start..stop`` of ``n``: the
    rounded cumulative count at ``stop`` minus the one at ``start``, so that the chunks'
    counts add up to the file's exactly."""
    return {
        name: (count * stop + n // 2) // n - (count * start + n // 2) // n for name, count in file_counts.items()
    }


def chunk_sizes(n: int) -> list[int]:
    """The sizes of the chunks ``n`` customers are made in: as few as ``CHUNK_ROWS``
    allows, nearly equal (a tiny last chunk could not hold its share of repeats)."""
    chunks = -(-n // CHUNK_ROWS)
    size, larger = divmod(n, chunks)
    return [size + 1] * larger + [size] * (chunks - larger)


def _chunk_seed(seed: int, chunk: int) -> np.random.SeedSequence:
    """Chunk 0 draws from the seed's own stream (see the module docstring), chunk ``k``
    from child ``k`` of ``SeedSequence(seed)``. Child 0 is left for the bad lines."""
    return np.random.SeedSequence(seed, spawn_key=(chunk,) if chunk else ())


def _plant_value_quirks(
    customers: dict[str, np.ndarray], counts: dict[str, int], rng: np.random.Generator
) -> np.ndarray:
    """Blank incomes, placeholders, very high incomes and impossible birth years, each on
    its own rows, as many as ``counts`` says. Returns the mask of rows carrying any quirk
    (odd marital statuses included), which repeats must avoid to keep counts exact."""
    names = ["missing_incomes", "placeholder_incomes", "high_incomes", "impossible_birth_years"]
    quirky = customers["Marital_Status"] >= len(USUAL_MARITAL_SHARE)
    chosen = rng.choice(np.flatnonzero(~quirky), sum(counts[name] for name in names), replace=False)
    missing, placeholder, high, impossible = np.split(chosen, np.cumsum([counts[name] for name in names])[:-1])

    income = customers["Income"]
    income[missing] = np.nan
    income[placeholder] = PLACEHOLDER_INCOME
    income[high] = rng.uniform(150_500, 163_000, len(high)).round()
    # Cycling through the three years puts each of them once per 2,240 customers.
    customers["Year_Birth"][impossible] = np.resize(IMPOSSIBLE_BIRTH_YEARS, len(impossible))
    quirky[chosen] = True
    return quirky


def _customer_ids(n: int, first_id: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Unique IDs scattered over about ``first_id``..``first_id + 5n`` like the file's
    (2,240 IDs within 0..11191), shuffled, and the first ID free for the next chunk. Built
    from random gaps, so no pool of 5n candidates is ever allocated."""
    ends = np.cumsum(rng.geometric(1 / 5, n))
    return first_id + rng.permutation(ends - 1), first_id + int(ends[-1])


def _chunk(
    n: int, counts: dict[str, int], rng: np.random.Generator, first_id: int, enrolment_labels: np.ndarray
) -> tuple[pd.DataFrame, int]:
    """One chunk of ``n`` customers with ``counts`` quirks, and the first ID free after it."""
    repeats = counts["repeats"]
    distinct = n - repeats
    rare_marital = [counts[status] for status in MARITAL[len(USUAL_MARITAL_SHARE) :]]
    customers = _distinct_customers(distinct, rare_marital, rng)
    quirky = _plant_value_quirks(customers, counts, rng)

    # A repeat is the same customer entered again under a new ID. Originals are drawn
    # with replacement, so a few customers appear three times, as in the file.
    originals = rng.choice(np.flatnonzero(~quirky), repeats)
    rows = np.concatenate([np.arange(distinct), originals])
    response = customers.pop("Response")[rows]
    flipped = distinct + rng.choice(repeats, counts["conflicting_repeats"], replace=False)
    response[flipped] = 1 - response[flipped]
    order = rng.permutation(n)
    shuffled_rows = rows[order]
    # pop() frees each unshuffled column as soon as its shuffled copy exists.
    customers = {name: customers.pop(name)[shuffled_rows] for name in list(customers)}

    ids, next_id = _customer_ids(n, first_id, rng)
    customers |= {
        "ID": ids,
        "Education": np.array(EDUCATION, dtype=object)[customers["Education"]],
        "Marital_Status": np.array(MARITAL, dtype=object)[customers["Marital_Status"]],
        "Dt_Customer": enrolment_labels[customers["Dt_Customer"]],
        "Response": response[order],
    }
    return pd.DataFrame({name: customers[name] for name in INPUT_COLUMNS}, copy=False), next_id


def iter_customer_chunks(n: int = REFERENCE_ROWS, seed: int = 0) -> Iterator[pd.DataFrame]:
    """The ``n`` customers of ``generate_customers(n, seed)``, chunk by chunk
    (``chunk_sizes(n)``), each indexed by its rows' positions in the whole file."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return _chunks(n, seed)


def _chunks(n: int, seed: int) -> Iterator[pd.DataFrame]:
    file_counts = _file_counts(n)
    enrolment_labels = pd.date_range(FIRST_ENROLMENT, LAST_ENROLMENT).strftime("%d-%m-%Y").to_numpy(dtype=object)
    start, first_id = 0, 0
    for chunk, size in enumerate(chunk_sizes(n)):
        counts = _chunk_counts(file_counts, start, start + size, n)
        rng = np.random.default_rng(_chunk_seed(seed, chunk))
        frame, first_id = _chunk(size, counts, rng, first_id, enrolment_labels)
        frame.index = pd.RangeIndex(start, start + size)
        yield frame
        start += size


def generate_customers(n: int = REFERENCE_ROWS, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic customers as the reference file holds them, in memory.

    The 29 ``INPUT_COLUMNS`` in order: integers as int64, ``Income`` float64 with NaN where
    blank, ``Dt_Customer`` as day-first ``dd-mm-yyyy`` text, categories as plain strings.
    About 9% of the rows repeat another customer of their chunk on every column but
    ``ID``; about one in ten of those carries the opposite ``Response``. The same
    ``(n, seed)`` always gives the same frame, and the rows ``write_synthetic_customers``
    writes. For files too large to hold, use that (or ``iter_customer_chunks``).
    """
    chunks = list(iter_customer_chunks(n, seed))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, copy=False)


def write_customers_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write like the reference file: TAB separated, CRLF line ends, whole-number
    incomes and an empty field where income is missing."""
    frame.to_csv(path, **CSV_FORMAT)


@dataclass(frozen=True)
class BadLineRule:
    """How to spoil one field of a line so that it breaks exactly one rule: ``rule`` is the
    reader's wording of the problem (``stage`` ``reading``: ``read_customers`` refuses
    the line) or the failing ``RawCustomers`` check (``stage`` ``contract``: the line reads,
    and the contract refuses it). ``spoil`` turns the field's text into the bad value."""

    column: str
    rule: str
    stage: str
    spoil: Callable[[str], str]


BAD_LINE_RULES = (
    BadLineRule("Income", "text where a number belongs", "reading", lambda value: "abc"),
    BadLineRule("Year_Birth", "counts must be whole numbers", "reading", lambda value: f"{value}.5"),
    BadLineRule("Recency", "empty value", "reading", lambda value: ""),  # a required field missing
    BadLineRule("Dt_Customer", "unreadable date(s)", "reading", lambda value: "unknown"),
    BadLineRule("MntWines", "greater_than_or_equal_to(0)", "contract", lambda value: f"-{int(value) + 1}"),
    BadLineRule("AcceptedCmp3", "isin([0, 1])", "contract", lambda value: "2"),
)
BAD_LINE_COLUMNS = ("line", "column", "value", "rule", "stage")


def bad_lines_path(path: str | Path) -> Path:
    """The manifest of the bad lines planted in the file at ``path``."""
    return Path(f"{path}.bad_lines.csv")


def read_bad_lines(path: str | Path) -> pd.DataFrame:
    """The manifest written next to the customer file at ``path``: one row per bad line,
    ``BAD_LINE_COLUMNS``, ``line`` as the file line number (the header is line 1) and
    ``value`` as written (an empty value stays an empty string)."""
    return pd.read_csv(bad_lines_path(path), keep_default_na=False, dtype={"value": str})


def _bad_line_plan(n: int, seed: int, bad_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (0-based, ascending) to spoil, scattered over the whole file, and the index in
    ``BAD_LINE_RULES`` of the rule each breaks (cycling, so that every rule is used)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    rows = np.sort(rng.choice(n, bad_lines, replace=False))
    return rows, np.arange(bad_lines) % len(BAD_LINE_RULES)


def _spoil_lines(text: str, header: bool, start: int, rows: np.ndarray, rules: np.ndarray) -> tuple[str, list[dict]]:
    """``text`` (a chunk's CSV starting at row ``start``) with the given rows spoiled, and
    the manifest records of those lines."""
    lines = text.split(CSV_FORMAT["lineterminator"])
    records = []
    for row, rule_index in zip(rows, rules):
        rule = BAD_LINE_RULES[rule_index]
        at = int(row) - start + header
        fields = lines[at].split(CSV_FORMAT["sep"])
        position = INPUT_COLUMNS.index(rule.column)
        fields[position] = rule.spoil(fields[position])
        lines[at] = CSV_FORMAT["sep"].join(fields)
        record = (int(row) + 2, rule.column, fields[position], rule.rule, rule.stage)
        records.append(dict(zip(BAD_LINE_COLUMNS, record)))
    return CSV_FORMAT["lineterminator"].join(lines), records


def write_synthetic_customers(
    path: str | Path, n: int = REFERENCE_ROWS, seed: int = 0, bad_lines: int = 0
) -> pd.DataFrame:
    """Write the rows of ``generate_customers(n, seed)`` to ``path`` as ``write_customers_csv``
    would, chunk by chunk as they are made, so memory stays flat at any ``n``. The file
    appears whole or not at all (it is written beside and renamed).

    ``bad_lines`` spoils one field on that many lines at positions drawn from the seed,
    each breaking one of ``BAD_LINE_RULES``; every other line is the clean file's. Returns
    the manifest, also written to ``bad_lines_path(path)`` (or removed there when there
    are no bad lines, since an old one would no longer describe the file)."""
    if not 0 <= bad_lines <= n:
        raise ValueError(f"bad_lines must be between 0 and the {n} customers, got {bad_lines}")
    path = Path(path)
    bad_rows, bad_rules = _bad_line_plan(n, seed, bad_lines)
    records: list[dict] = []
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        for chunk in iter_customer_chunks(n, seed):
            start, stop = chunk.index[0], chunk.index[-1] + 1
            header = start == 0
            text = chunk.to_csv(header=header, **CSV_FORMAT)
            inside = slice(*np.searchsorted(bad_rows, [start, stop]))
            if bad_rows[inside].size:
                text, planted = _spoil_lines(text, header, start, bad_rows[inside], bad_rules[inside])
                records += planted
            handle.write(text)
    os.replace(partial, path)
    manifest = pd.DataFrame(records, columns=list(BAD_LINE_COLUMNS))
    if bad_lines:
        manifest.to_csv(bad_lines_path(path), index=False)
    else:
        bad_lines_path(path).unlink(missing_ok=True)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command line: write ``--customers`` synthetic customers from ``--seed`` to ``--out``,
    ``--bad-lines`` of them spoiled."""
    parser = argparse.ArgumentParser(description="Write a seeded synthetic customer file (TAB separated, CRLF).")
    parser.add_argument("--customers", type=int, default=REFERENCE_ROWS, help="number of customers (rows)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", type=Path, required=True, help="output CSV path")
    parser.add_argument(
        "--bad-lines",
        type=int,
        default=0,
        help="lines that each break one reading or contract rule, listed in OUT.bad_lines.csv",
    )
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    if not 0 <= args.bad_lines <= args.customers:
        parser.error("--bad-lines must be between 0 and --customers")
    started = time.perf_counter()
    write_synthetic_customers(args.out, args.customers, args.seed, args.bad_lines)
    seconds = time.perf_counter() - started
    listed = f", {args.bad_lines} bad lines listed in {bad_lines_path(args.out)}" if args.bad_lines else ""
    print(f"Wrote {args.customers} synthetic customers (seed {args.seed}{listed}) to {args.out} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
