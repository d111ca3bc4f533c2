"""Pandera contracts for every dataset asset: the single source of column names and rules.

Each model below is checked on an asset's output before the IO manager writes it, so a
frame that breaks its contract is never stored (see ``campaign_pipeline.contracts``).
Transforms import column names from here instead of spelling them again.
"""

from typing import Literal, Optional

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.dtypes import immutable
from pandera.engines import pandas_engine
from pandera.typing import Series

SPEND_COLUMNS = (
    "MntWines",
    "MntFruits",
    "MntMeatProducts",
    "MntFishProducts",
    "MntSweetProducts",
    "MntGoldProds",
)
PURCHASE_COLUMNS = (
    "NumDealsPurchases",
    "NumWebPurchases",
    "NumCatalogPurchases",
    "NumStorePurchases",
)
ACCEPTED_COLUMNS = (
    "AcceptedCmp1",
    "AcceptedCmp2",
    "AcceptedCmp3",
    "AcceptedCmp4",
    "AcceptedCmp5",
)
# Channels a customer can prefer, in the order used to break ties.
CHANNEL_PURCHASE_COLUMNS = {
    "store": "NumStorePurchases",
    "web": "NumWebPurchases",
    "catalog": "NumCatalogPurchases",
}
# The product family named after each spend column, for "feature this product" advice.
PRODUCT_FAMILIES = {
    "MntWines": "wines",
    "MntFruits": "fruits",
    "MntMeatProducts": "meat",
    "MntFishProducts": "fish",
    "MntSweetProducts": "sweets",
    "MntGoldProds": "gold",
}
RESPONSE = "Response"
SCORE_SOURCE = "score_source"
SCORE_SOURCES = ("out_of_fold", "model")
DISPOSITIONS = ("scored", "duplicate", "dropped", "rejected")
COST_COLUMN = "Z_CostContact"
REVENUE_COLUMN = "Z_Revenue"
# Columns a customer file may lack: a scoring-only file has no Response, and the
# campaign economics can come from configuration instead of the Z_ columns.
OPTIONAL_INPUT_COLUMNS = (RESPONSE, COST_COLUMN, REVENUE_COLUMN)

EDUCATION_LEVELS = ("Basic", "Graduation", "Master", "PhD", "Other")
MARITAL_STATUSES = ("Single", "Married", "Together", "Divorced", "Widow", "Other")
RECENCY_SEGMENTS = ("Recent", "Medium", "Old")
AGE_GROUPS = ("<30", "30-39", "40-49", "50-59", "60+")
CHANNELS = ("store", "web", "catalog", "none")

# Whole numbers in the customer datasets (counts, amounts, flags, years, and the features
# derived from them) are stored in 32 bits: half the memory and bytes of int64 at every step
# of a large file, and ample for any value the cleaning rules keep. IDs keep 64 bits, as
# files number customers as they like. The reader refuses a value that does not fit.
WholeNumber = np.int32


@pandas_engine.Engine.register_dtype
@immutable
class Text(pandas_engine.NpString):
    """Text columns (``str``), checked a column at a time: pandera's own ``str`` check calls
    Python once per value (0.14 s per million), ``infer_dtype`` scans the column in C
    (0.01 s). Gaps are left to the field's ``nullable``. A column with anything else in it
    gets pandera's per-value check, so the failure cases still name the rows."""

    def check(self, pandera_dtype, data_container=None):
        if data_container is not None and pd.api.types.infer_dtype(data_container, skipna=True) in ("string", "empty"):
            return True
        return super().check(pandera_dtype, data_container)


# A rule judged row by row. pandera would otherwise pass every row whose cells are all
# missing, finding them with isna over the whole frame (0.4 s per million lines of 29
# columns); every table of ours has a column that is never missing.
ROW_RULE = {"ignore_na": False}

_COUNT = {"ge": 0}
_FLAG = {"isin": [0, 1]}


class RawCustomers(pa.DataFrameModel):
    """The customer file as read: one row per customer ID, every column typed.

    Categories keep the file's spelling; quirks (duplicates, placeholders, impossible
    birth years) are kept here on purpose and handled by ``cleaned_customers``.
    """

    ID: Series[int] = pa.Field(ge=0, description="Customer ID; lines sharing one are identical (one customer exported twice)")
    Year_Birth: Series[WholeNumber] = pa.Field(ge=1800, le=2100, description="Birth year")
    Education: Series[Text] = pa.Field(description="Education level as spelled in the file")
    Marital_Status: Series[Text] = pa.Field(description="Marital status as spelled in the file")
    Income: Series[float] = pa.Field(nullable=True, ge=0, description="Yearly household income, MU")
    Kidhome: Series[WholeNumber] = pa.Field(**_COUNT, description="Small children in the household")
    Teenhome: Series[WholeNumber] = pa.Field(**_COUNT, description="Teenagers in the household")
    Dt_Customer: Series[pd.Timestamp] = pa.Field(description="Enrolment date (parsed, never guessed)")
    Recency: Series[WholeNumber] = pa.Field(**_COUNT, description="Days since the last purchase")
    MntWines: Series[WholeNumber] = pa.Field(**_COUNT, description="Spend on wines, last 2 years, MU")
    MntFruits: Series[WholeNumber] = pa.Field(**_COUNT, description="Spend on fruits, last 2 years, MU")
    MntMeatProducts: Series[WholeNumber] = pa.Field(**_COUNT, description="Spend on meat, last 2 years, MU")
    MntFishProducts: Series[WholeNumber] = pa.Field(**_COUNT, description="Spend on fish, last 2 years, MU")
    MntSweetProducts: Series[WholeNumber] = pa.Field(**_COUNT, description="Spend on sweets, last 2 years, MU")
    MntGoldProds: Series[WholeNumber] = pa.Field(**_COUNT, description="Spend on gold, last 2 years, MU")
    NumDealsPurchases: Series[WholeNumber] = pa.Field(**_COUNT, description="Purchases made with a discount")
    NumWebPurchases: Series[WholeNumber] = pa.Field(**_COUNT, description="Purchases on the web site")
    NumCatalogPurchases: Series[WholeNumber] = pa.Field(**_COUNT, description="Purchases from the catalogue")
    NumStorePurchases: Series[WholeNumber] = pa.Field(**_COUNT, description="Purchases in stores")
    NumWebVisitsMonth: Series[WholeNumber] = pa.Field(**_COUNT, description="Web visits last month")
    AcceptedCmp3: Series[WholeNumber] = pa.Field(**_FLAG, description="Accepted campaign 3")
    AcceptedCmp4: Series[WholeNumber] = pa.Field(**_FLAG, description="Accepted campaign 4")
    AcceptedCmp5: Series[WholeNumber] = pa.Field(**_FLAG, description="Accepted campaign 5")
    AcceptedCmp1: Series[WholeNumber] = pa.Field(**_FLAG, description="Accepted campaign 1")
    AcceptedCmp2: Series[WholeNumber] = pa.Field(**_FLAG, description="Accepted campaign 2")
    Complain: Series[WholeNumber] = pa.Field(**_FLAG, description="Complained in the last 2 years")
    Z_CostContact: Optional[Series[WholeNumber]] = pa.Field(ge=0, description="Cost of one contact, MU")
    Z_Revenue: Optional[Series[WholeNumber]] = pa.Field(ge=0, description="Revenue of one acceptance, MU")
    Response: Optional[Series[WholeNumber]] = pa.Field(**_FLAG, description="Accepted the last campaign (target)")

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.dataframe_check(description="Income is known for at least one customer")
    def some_income_known(cls, frame: pd.DataFrame) -> bool:
        return bool(frame["Income"].notna().any())

    @pa.dataframe_check(**ROW_RULE, description="Lines that share an ID are identical")
    def one_customer_per_id(cls, frame: pd.DataFrame) -> pd.Series:
        return ~frame["ID"].duplicated(keep=False) | identical_lines(frame, keep=False)


def identical_lines(frame: pd.DataFrame, keep: Literal["first", False] = "first") -> pd.Series:
    """``frame.duplicated(keep=keep)``: lines equal on every column. Identical lines share
    their ID, so only the few lines that share one are compared (the whole comparison
    takes seconds at a million lines)."""
    shared_id = frame["ID"].duplicated(keep=False).to_numpy()
    marks = np.zeros(len(frame), dtype=bool)
    marks[shared_id] = frame[shared_id].duplicated(keep=keep).to_numpy()
    return pd.Series(marks, index=frame.index)


# The columns of a customer file, in the reference file's order.
INPUT_COLUMNS: tuple[str, ...] = tuple(RawCustomers.to_schema().columns)


class CleanedCustomers(RawCustomers):
    """Customers after the cleaning rules: no duplicates ignoring ID, plausible birth
    years, standard categories, income placeholders removed and missing income handled."""

    ID: Series[int] = pa.Field(unique=True, ge=0, description="Customer ID, one line per customer")
    Year_Birth: Series[WholeNumber] = pa.Field(ge=1901, le=2100, description="Birth year, impossible ones removed")
    Education: Series[pa.Category] = pa.Field(isin=list(EDUCATION_LEVELS), description="Standard education level")
    Marital_Status: Series[pa.Category] = pa.Field(isin=list(MARITAL_STATUSES), description="Standard marital status")
    income_imputed: Series[bool] = pa.Field(description="Income was missing or a placeholder and was imputed")

    class Config:
        strict = True
        ordered = False


class EngineeredCustomers(CleanedCustomers):
    """Cleaned customers plus the engineered features of REFERENCE §2, computed at one
    explicit reference date."""

    age: Series[WholeNumber] = pa.Field(ge=0, le=130, description="Reference year minus birth year")
    age_group: Series[pa.Category] = pa.Field(isin=list(AGE_GROUPS), description="Age band")
    tenure_months: Series[WholeNumber] = pa.Field(ge=0, description="Whole months from enrolment to the reference date")
    total_interactions: Series[WholeNumber] = pa.Field(ge=0, description="Web visits plus all purchases")
    total_purchases: Series[WholeNumber] = pa.Field(ge=0, description="Deals + web + catalogue + store purchases")
    conversion_rate: Series[float] = pa.Field(
        nullable=True, ge=0, le=1, description="Response per interaction (empty without Response)"
    )
    customer_value_index: Series[WholeNumber] = pa.Field(ge=0, description="Total spend on the six families, MU")
    family_size: Series[WholeNumber] = pa.Field(ge=1, description="Adults (2 if married/together) plus children")
    children: Series[WholeNumber] = pa.Field(ge=0, description="Kidhome + Teenhome")
    recency_segment: Series[pa.Category] = pa.Field(isin=list(RECENCY_SEGMENTS), description="Recent <=30, Medium <=90, Old")
    income_per_capita: Series[float] = pa.Field(ge=0, description="Income / family size, MU")
    preferred_channel: Series[pa.Category] = pa.Field(isin=list(CHANNELS), description="Channel with most purchases")
    loyalty_score: Series[WholeNumber] = pa.Field(ge=0, le=5, description="Campaigns 1-5 accepted")
    top_product_family: Series[pa.Category] = pa.Field(
        isin=[*PRODUCT_FAMILIES.values(), "none"], description="Product family with the highest spend"
    )


class ScaledCustomers(pa.DataFrameModel):
    """The segmentation matrix: customer ID plus standardised behavioural features."""

    ID: Series[int] = pa.Field(unique=True, ge=0)
    feature: Series[float] = pa.Field(alias=r"^seg__.+", regex=True, description="Standardised feature")

    class Config:
        strict = True


class ClusteredCustomers(EngineeredCustomers):
    """Engineered customers with their segment, numbered by ascending typical spend."""

    cluster: Series[int] = pa.Field(ge=0, description="Segment id (0 = lowest spend)")
    cluster_name: Series[Text] = pa.Field(description="Descriptive segment name")


class RejectedCustomers(pa.DataFrameModel):
    """Lines of the customer file set aside under ``bad_rows: quarantine``: one row per
    broken value (or per line, for a rule about the whole line), with the rule it breaks."""

    line: Series[int] = pa.Field(ge=2, description="Line of the file (the header is line 1)")
    ID: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, description="Customer ID on that line, when it could be read")
    column: Series[Text] = pa.Field(description="The column of the broken value; empty for a rule about the whole line")
    value: Series[Text] = pa.Field(description="The value as written in the file (as typed, for a contract rule)")
    reason: Series[Text] = pa.Field(str_length={"min_value": 1}, description="The rule the value breaks, and what was expected")

    class Config:
        strict = True
        ordered = True


class CustomerDispositions(pa.DataFrameModel):
    """One row per line of the input file: what became of it, and why."""

    ID: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, description="Customer ID on that line (empty on a rejected line whose ID cannot be read)"
    )
    line: Series[int] = pa.Field(unique=True, ge=2, description="Line of the file (the header is line 1)")
    disposition: Series[Text] = pa.Field(
        isin=list(DISPOSITIONS),
        description="scored; duplicate (another line stands for this customer); dropped (by a cleaning rule); "
        "rejected (set aside under bad_rows: quarantine, see rejected_customers)",
    )
    duplicate_of: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="For a duplicate: the ID that was kept")
    reason: Series[Text] = pa.Field(description="The rule that removed the line, empty when scored")

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check(**ROW_RULE, description="Duplicates name the kept ID; only removed lines have a reason")
    def reasons_match_dispositions(cls, frame: pd.DataFrame) -> pd.Series:
        duplicate = frame["disposition"].eq("duplicate")
        return frame["duplicate_of"].notna().eq(duplicate) & frame["reason"].ne("").eq(frame["disposition"].ne("scored"))

    @pa.dataframe_check(**ROW_RULE, description="Only a rejected line may lack its ID")
    def ids_known_unless_rejected(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["ID"].notna() | frame["disposition"].eq("rejected")


class CampaignScenarios(pa.DataFrameModel):
    """The campaign at a grid of prices and budgets, on the same honest scores."""

    cost_per_contact: Series[float] = pa.Field(gt=0, description="MU per contact")
    revenue_per_response: Series[float] = pa.Field(gt=0, description="MU per acceptance")
    max_contacts: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0, description="Contact at most this many; empty: no limit")
    budget_mu: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, description="Spend at most this much, MU; empty: no limit")
    contacted: Series[int] = pa.Field(ge=0, description="Customers the rule contacts")
    expected_acceptances: Series[float] = pa.Field(ge=0, description="Sum of their response probabilities")
    expected_profit: Series[float] = pa.Field(description="Expected revenue minus contact cost, MU")
    observed_profit: Series[float] = pa.Field(
        nullable=True, description="Observed profit of those contacts on a labelled file (honest scores), MU"
    )

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check(**ROW_RULE, description="A max_contacts budget is never exceeded")
    def within_max_contacts(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["max_contacts"].isna() | (frame["contacted"] <= frame["max_contacts"].fillna(0))


class ScoredCustomers(pa.DataFrameModel):
    """Response probability and contact decision per customer."""

    ID: Series[int] = pa.Field(unique=True, ge=0)
    cluster: Series[int] = pa.Field(ge=0)
    cluster_name: Series[Text]
    response_probability: Series[float] = pa.Field(ge=0, le=1, description="Calibrated P(accepts next campaign)")
    decile: Series[int] = pa.Field(ge=1, le=10, description="1 = top 10% of scores")
    expected_profit: Series[float] = pa.Field(description="p x revenue - cost, MU")
    contact: Series[bool] = pa.Field(description="Contact rule says yes")
    Response: Series[float] = pa.Field(nullable=True, description="Observed response when the file has it")
    score_source: Series[Text] = pa.Field(
        isin=list(SCORE_SOURCES),
        description="out_of_fold: a labelled customer the model was trained on, scored by a fit that never saw it; "
        "model: the stored model's score of a customer it never saw",
    )

    class Config:
        strict = True


class ConversionAnalysis(pa.DataFrameModel):
    """Response and conversion by segment, with 95% Wilson intervals and each
    dimension's test."""

    dimension: Series[Text]
    segment: Series[Text]
    customers: Series[int] = pa.Field(ge=1)
    responders: Series[int] = pa.Field(ge=0)
    interactions: Series[int] = pa.Field(ge=0)
    response_rate: Series[float] = pa.Field(ge=0, le=1)
    response_rate_low: Series[float] = pa.Field(ge=0, le=1)
    response_rate_high: Series[float] = pa.Field(ge=0, le=1)
    conversion_rate: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    conversion_rate_low: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    conversion_rate_high: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    conversion_rate_mean: Series[float] = pa.Field(ge=0, le=1)
    chi2_p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    cramers_v: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    kruskal_p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    significant: Series[bool]
    test_merges: Series[Text]
    conclusion: Series[Text]

    @pa.dataframe_check(**ROW_RULE, description="Wilson intervals contain the rate")
    def intervals_contain_rates(cls, frame: pd.DataFrame) -> pd.Series:
        return frame["response_rate"].between(frame["response_rate_low"], frame["response_rate_high"])


class ClusterProfiles(pa.DataFrameModel):
    """One row per cluster in real units, each figure beside its overall value."""

    cluster: Series[int] = pa.Field(unique=True, ge=0)
    name: Series[Text] = pa.Field(unique=True)
    customers: Series[int] = pa.Field(ge=1)
    share: Series[float] = pa.Field(ge=0, le=1)
    income_MU: Series[float] = pa.Field(ge=0, description="Mean yearly income, MU")
    income_MU_overall: Series[float] = pa.Field(ge=0)
    spend_MU: Series[float] = pa.Field(ge=0, description="Mean spend over 2 years, MU")
    spend_MU_overall: Series[float] = pa.Field(ge=0)
    recency_days: Series[float] = pa.Field(ge=0, description="Mean days since last purchase")
    recency_days_overall: Series[float] = pa.Field(ge=0)
    top_product_family: Series[Text]

    class Config:
        strict = False


class RetargetingImpact(pa.DataFrameModel):
    """One row per cluster: size, observed and predicted response, and money impact."""

    cluster: Series[int] = pa.Field(unique=True, ge=0)
    name: Series[Text]
    customers: Series[int] = pa.Field(ge=1)
    share: Series[float] = pa.Field(ge=0, le=1)
    response_rate: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    mean_score: Series[float] = pa.Field(ge=0, le=1)
    expected_responders: Series[float] = pa.Field(ge=0)
    contact_cost: Series[float] = pa.Field(ge=0)
    expected_revenue: Series[float] = pa.Field(ge=0)
    expected_profit: Series[float]
    targeted_customers: Series[int] = pa.Field(ge=0)
    targeted_expected_responders: Series[float] = pa.Field(ge=0)
    targeted_cost: Series[float] = pa.Field(ge=0)
    targeted_revenue: Series[float] = pa.Field(ge=0)
    targeted_profit: Series[float] = pa.Field(ge=0)
    targeted_profit_low: Series[float] = pa.Field(description="Seeded bootstrap 95% interval of targeted_profit, low end")
    targeted_profit_high: Series[float] = pa.Field(description="Seeded bootstrap 95% interval of targeted_profit, high end")
    share_of_expected_profit: Series[float] = pa.Field(ge=0, le=1)
    recommended: Series[bool]

    class Config:
        strict = False

    @pa.dataframe_check(description="Exactly one cluster is recommended")
    def one_recommended(cls, frame: pd.DataFrame) -> bool:
        return int(frame["recommended"].sum()) == 1


# Ways of reaching a customer (not where they buy), assigned by transforms/actions.py's
# rule; kept here so that the contract below can check them without an import cycle.
REACH_CHANNELS = ("catalogue mail", "email", "web banner / site offer", "in-store offer")


class ContactList(pa.DataFrameModel):
    """Customers worth contacting, best first, with how to reach them and what to feature."""

    ID: Series[int] = pa.Field(unique=True, ge=0)
    cluster: Series[int] = pa.Field(ge=0)
    cluster_name: Series[Text]
    response_probability: Series[float] = pa.Field(ge=0, le=1)
    expected_profit: Series[float] = pa.Field(gt=0, description="MU")
    reach_channel: Series[Text] = pa.Field(isin=list(REACH_CHANNELS), description="Way to reach them")
    feature_product: Series[Text] = pa.Field(description="Product family to feature")
    suggested_action: Series[Text]

    class Config:
        strict = True
        ordered = True


class ProspectScores(pa.DataFrameModel):
    """Look-alike prospects, best expected profit first: the demographics-only model's
    probability, the contact decision and the customer segment they resemble."""

    ID: Series[int] = pa.Field(unique=True, ge=0, description="Prospect ID")
    lookalike_probability: Series[float] = pa.Field(
        ge=0, le=1, description="Calibrated P(accepts) from demographics only (the look-alike model, not the customer model)"
    )
    expected_profit: Series[float] = pa.Field(description="p x revenue - cost, MU")
    contact: Series[bool] = pa.Field(description="Break-even rule within the budget says yes")
    nearest_segment: Series[int] = pa.Field(ge=0, description="Customer segment (cluster id) the demographics point to")
    segment_name: Series[Text] = pa.Field(description="Name of that segment")

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check(description="Ranked by expected profit, best first")
    def ranked_by_expected_profit(cls, frame: pd.DataFrame) -> bool:
        return bool(frame["expected_profit"].is_monotonic_decreasing)
