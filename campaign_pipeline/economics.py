"""The money of a campaign, in one place: what a contact costs, what an acceptance brings,
the break-even rule that decides who is contacted, and the observed result of a campaign.

Every layer prices through a ``CampaignPrices``: the response model (evaluated at them),
the scores and contact decisions, the retargeting table, the contact-everyone baseline and
the reports. No Dagster here; the ``campaign_economics`` resource only chooses the
overrides and calls ``resolve_prices``.
"""

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from campaign_pipeline.errors import InputDataError
from campaign_pipeline.schemas import COST_COLUMN, RESPONSE, REVENUE_COLUMN
from campaign_pipeline.transforms.buckets import ROWS

# Where a user overrides the prices: the Dagster resource and its run configuration.
ECONOMICS_RESOURCE = "campaign_economics"
COST_SETTING = "cost_per_contact"
REVENUE_SETTING = "revenue_per_response"
# What CampaignPrices.outcome reports, and how RunPrices stores its baseline.
OUTCOME_KEYS = ("contacted", "responders", "response_rate", "cost", "revenue", "profit")
BASELINE_PREFIX = "baseline_as_received_"


@dataclass(frozen=True)
class CampaignPrices:
    """Cost per contact and revenue per acceptance (MU), and where they came from."""

    cost_per_contact: float
    revenue_per_response: float
    source: str = "given"

    @property
    def break_even_probability(self) -> float:
        """The response probability at which a contact pays for itself: cost / revenue."""
        return self.cost_per_contact / self.revenue_per_response

    def expected_profit(self, probability):
        """p x revenue - cost per contact, elementwise for arrays and Series."""
        return probability * self.revenue_per_response - self.cost_per_contact

    def worth_contacting(self, probability):
        """The one contact rule: expected profit above zero (p x revenue > cost)."""
        return self.expected_profit(probability) > 0

    @property
    def contact_rule(self) -> str:
        """The rule in words, e.g. ``contact when p x 11 > 3, i.e. p > 0.273``."""
        return (
            f"contact when p x {self.revenue_per_response:g} > {self.cost_per_contact:g}, "
            f"i.e. p > {self.break_even_probability:.3f}"
        )

    def outcome(self, contacted: np.ndarray, responded: np.ndarray) -> dict:
        """Customers contacted, responders among them, their response rate, and the money."""
        return self.outcome_of_counts(int(contacted.sum()), int(responded[contacted].sum()))

    def outcome_of_counts(self, n_contacted: int, responders: int) -> dict:
        """``outcome`` for ``n_contacted`` customers of whom ``responders`` accepted."""
        return {
            "contacted": n_contacted,
            "responders": responders,
            "response_rate": responders / n_contacted if n_contacted else 0.0,
            "cost": n_contacted * self.cost_per_contact,
            "revenue": responders * self.revenue_per_response,
            "profit": responders * self.revenue_per_response - n_contacted * self.cost_per_contact,
        }

    def as_metadata(self) -> dict:
        """The prices and their source, for model cards and asset metadata."""
        return {
            "cost_per_contact_mu": self.cost_per_contact,
            "revenue_per_response_mu": self.revenue_per_response,
            "prices_source": self.source,
        }


@dataclass(frozen=True)
class Budget:
    """An optional limit on the campaign: at most ``max_contacts`` customers and/or at most
    ``budget_mu`` MU of contact cost. Unset means only break-even limits it."""

    max_contacts: int | None = None
    budget_mu: float | None = None

    def limit(self, prices: CampaignPrices) -> int | None:
        """How many contacts the budget allows at these prices (None: no limit)."""
        limits = [self.max_contacts] if self.max_contacts is not None else []
        if self.budget_mu is not None:
            limits.append(int(np.floor(self.budget_mu / prices.cost_per_contact + 1e-9)))
        return min(limits) if limits else None

    def describe(self) -> str:
        parts = [f"at most {self.max_contacts:,} contacts"] if self.max_contacts is not None else []
        if self.budget_mu is not None:
            parts.append(f"at most {self.budget_mu:,.0f} MU")
        return " and ".join(parts) or "no budget"


def choose_contacts(probability: np.ndarray, prices: CampaignPrices, budget: Budget = Budget()) -> np.ndarray:
    """The contact rule with a budget: the best expected profits first (expected profit
    rises with p, ties broken by position), until the budget or break-even stops it."""
    worth = np.asarray(prices.worth_contacting(np.asarray(probability)))
    limit = budget.limit(prices)
    if limit is None or limit >= worth.sum():
        return worth
    chosen = np.zeros(len(worth), dtype=bool)
    chosen[np.argsort(-np.asarray(probability), kind="stable")[:limit]] = True
    return chosen & worth


def budget_depth(prices: list[CampaignPrices], budgets: list[Budget]) -> int:
    """The most contacts any budget of the grid allows at any of its prices (0: none limits)."""
    return max((limit for price in prices for budget in budgets if (limit := budget.limit(price)) is not None), default=0)


@dataclass(frozen=True)
class ScoreSummary:
    """What the scenario grid needs of the scores, as partial aggregates that add up bucket
    by bucket (``combined``): per price of the grid, the worthwhile customers' count,
    expected and observed acceptances (``worth``: one row per price); and the ``depth``
    best scores with their responses, in contact order (highest score first, ties by file
    line), which is all a budget can reach. ``labelled``: every customer has a response."""

    worth: np.ndarray
    best: pd.DataFrame
    labelled: bool

    @classmethod
    def of(cls, scores: pd.DataFrame, prices: list[CampaignPrices], depth: int) -> "ScoreSummary":
        """The summary of ``scores`` (``response_probability`` and ``Response``, indexed by line)."""
        probability = scores["response_probability"].to_numpy(dtype=float)
        response = scores[RESPONSE] if RESPONSE in scores.columns else pd.Series(np.nan, index=scores.index)
        labelled = bool(response.notna().all())
        observed = response.fillna(0).to_numpy(dtype=float)
        masks = [np.asarray(price.worth_contacting(probability)) for price in prices]
        worth = np.array([[mask.sum(), probability[mask].sum(), observed[mask].sum()] for mask in masks]).reshape(len(prices), 3)
        best = pd.DataFrame({"probability": probability, "observed": observed}, index=scores.index)
        return cls(worth, _in_contact_order(best).head(depth), labelled)

    @classmethod
    def combined(cls, summaries: list["ScoreSummary"], depth: int) -> "ScoreSummary":
        return cls(
            np.sum([summary.worth for summary in summaries], axis=0),
            _in_contact_order(pd.concat([summary.best for summary in summaries])).head(depth),
            all(summary.labelled for summary in summaries),
        )


def _in_contact_order(scores: pd.DataFrame) -> pd.DataFrame:
    """Highest probability first, ties by file line (the index)."""
    return scores.iloc[np.lexsort((scores.index.to_numpy(), -scores["probability"].to_numpy()))]


def scenario_table(summary: ScoreSummary, prices: list[CampaignPrices], budgets: list[Budget]) -> pd.DataFrame:
    """The campaign at every combination of ``prices`` x ``budgets`` on the same scores
    (``summary``, whose ``worth`` rows follow ``prices``): customers contacted, expected
    acceptances and expected profit, and the observed profit of those contacts when every
    response is known (honest scores make it out of sample). Without a binding budget the
    worthwhile customers' sums; with one, the best scores up to the limit."""
    best_expected = np.concatenate([[0.0], np.cumsum(summary.best["probability"].to_numpy())])
    best_observed = np.concatenate([[0.0], np.cumsum(summary.best["observed"].to_numpy())])
    rows = []
    for price, (worth, worth_expected, worth_observed) in zip(prices, summary.worth):
        worth = int(worth)
        for budget in budgets:
            limit = budget.limit(price)
            contacted = worth if limit is None else min(worth, limit)
            expected, observed = (
                (worth_expected, worth_observed) if contacted == worth else (best_expected[contacted], best_observed[contacted])
            )
            cost = contacted * price.cost_per_contact
            rows.append(
                {
                    "cost_per_contact": price.cost_per_contact,
                    "revenue_per_response": price.revenue_per_response,
                    "max_contacts": budget.max_contacts,
                    "budget_mu": budget.budget_mu,
                    "contacted": contacted,
                    "expected_acceptances": expected,
                    "expected_profit": expected * price.revenue_per_response - cost,
                    "observed_profit": observed * price.revenue_per_response - cost if summary.labelled else np.nan,
                }
            )
    table = pd.DataFrame(rows)
    return table.astype({"max_contacts": "Int64", "budget_mu": "Float64", "observed_profit": "float64"})


def resolve_prices(
    customers: pd.DataFrame, cost_override: float | None = None, revenue_override: float | None = None
) -> CampaignPrices:
    """The overrides when given, otherwise the table's constant ``Z_CostContact`` and
    ``Z_Revenue``; a column that is absent or not constant is refused."""
    cost, cost_source = _price(cost_override, customers, COST_COLUMN, COST_SETTING)
    revenue, revenue_source = _price(revenue_override, customers, REVENUE_COLUMN, REVENUE_SETTING)
    return CampaignPrices(cost, revenue, f"cost {cost_source}; revenue {revenue_source}")


def _price(override: float | None, customers: pd.DataFrame, column: str, setting: str) -> tuple[float, str]:
    if override is not None:
        return float(override), f"from {ECONOMICS_RESOURCE}.{setting}"
    values = customers[column].unique() if column in customers.columns else []
    if len(values) != 1:
        raise InputDataError(
            "no single value to price the campaign with"
            + (f" (found {len(values)} different values)" if len(values) else " (column absent)"),
            source="the customer table",
            column=column,
            expected="one constant value in every row",
            fix=(
                f"Set '{setting}' on the {ECONOMICS_RESOURCE} resource in the run configuration: "
                f"resources: {ECONOMICS_RESOURCE}: config: {setting}: <MU>."
            ),
        )
    return float(values[0]), f"from the file's {column}"


def contact_everyone(response: pd.DataFrame | pd.Series, prices: CampaignPrices) -> dict | None:
    """Observed result of contacting every row: a table's ``Response`` column (the file as
    received, or the deduplicated customers; or their ``buckets.count_by`` counts, each row
    standing for its ``rows``) or the responses themselves. None when a table has no
    ``Response``. Rows without a response are not counted as contacted."""
    rows = None
    if isinstance(response, pd.DataFrame):
        if RESPONSE not in response.columns:
            return None
        rows = response[ROWS].to_numpy() if ROWS in response.columns else None
        response = response[RESPONSE]
    rows = np.ones(len(response), dtype="int64") if rows is None else rows
    labelled, responded = response.notna().to_numpy(), response.fillna(0).to_numpy().astype(bool)
    return prices.outcome_of_counts(int(rows[labelled].sum()), int(rows[labelled & responded].sum()))


@dataclass(frozen=True)
class RunPrices:
    """What one run prices with: the prices (resolved once, from the file as received and
    the overrides) and the observed result of contacting every line of that file, the
    baseline labelled "as received" wherever it is shown. Stored as a one-row table."""

    prices: CampaignPrices
    baseline_as_received: dict | None
    budget: Budget = Budget()

    def to_frame(self) -> pd.DataFrame:
        baseline = self.baseline_as_received or {}
        return pd.DataFrame(
            {
                **{field: [value] for field, value in asdict(self.prices).items()},
                "max_contacts": pd.array([self.budget.max_contacts], dtype="Int64"),
                "budget_mu": pd.array([self.budget.budget_mu], dtype="Float64"),
                **{f"{BASELINE_PREFIX}{key}": [float(baseline.get(key, np.nan))] for key in OUTCOME_KEYS},
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "RunPrices":
        row = frame.iloc[0]
        prices = CampaignPrices(**{field.name: row[field.name] for field in fields(CampaignPrices)})
        baseline = {key: row[f"{BASELINE_PREFIX}{key}"] for key in OUTCOME_KEYS}
        budget = Budget(
            max_contacts=None if pd.isna(row["max_contacts"]) else int(row["max_contacts"]),
            budget_mu=None if pd.isna(row["budget_mu"]) else float(row["budget_mu"]),
        )
        if np.isnan(baseline["contacted"]):
            return cls(prices, None, budget)
        counts = {"contacted", "responders"}
        baseline = {key: int(value) if key in counts else float(value) for key, value in baseline.items()}
        return cls(prices, baseline, budget)


def price_run(
    received: pd.DataFrame,
    cost_override: float | None = None,
    revenue_override: float | None = None,
    budget: Budget = Budget(),
) -> RunPrices:
    """The run's prices, budget and as-received baseline, from the customer file as read
    (or its ``buckets.count_by`` counts of ``Response`` and the two price columns)."""
    prices = resolve_prices(received, cost_override, revenue_override)
    return RunPrices(prices=prices, baseline_as_received=contact_everyone(received, prices), budget=budget)
