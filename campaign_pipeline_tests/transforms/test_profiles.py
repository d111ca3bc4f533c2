"""Profiles state only real differences, and names follow them."""

import numpy as np
import pandas as pd

from campaign_pipeline.transforms.profiles import name_clusters, profile_clusters, profile_table


def clustered(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 300
    cluster = np.repeat([0, 1, 2], n)
    frame = pd.DataFrame(
        {
            "cluster": cluster,
            "Income": np.where(cluster == 2, 80_000, 40_000) + rng.normal(0, 3_000, 3 * n),
            "customer_value_index": np.where(cluster == 2, 1_200, np.where(cluster == 1, 500, 80)) + rng.integers(0, 50, 3 * n),
            "total_purchases": rng.integers(5, 20, 3 * n),
            "Recency": rng.integers(0, 100, 3 * n),
            "NumWebVisitsMonth": rng.integers(0, 10, 3 * n),
            "children": np.where(cluster == 0, 2, rng.integers(0, 2, 3 * n)),
            "tenure_months": rng.integers(6, 30, 3 * n),
            "loyalty_score": rng.integers(0, 2, 3 * n),
            "NumWebPurchases": rng.integers(0, 8, 3 * n),
            "NumCatalogPurchases": rng.integers(0, 8, 3 * n),
            "NumStorePurchases": rng.integers(0, 8, 3 * n),
            **{c: rng.integers(0, 100, 3 * n) for c in ["MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"]},
            "Response": rng.integers(0, 2, 3 * n),
        }
    )
    return frame


def test_only_real_differences_are_flagged():
    profile = profile_clusters(clustered()).set_index(["cluster", "measure"])
    assert profile.loc[(2, "income"), "real_difference"] and profile.loc[(2, "income"), "effect"] > 0
    # Recency is random in every cluster: no difference may be claimed.
    assert not profile.xs("recency", level="measure")["real_difference"].any()


def test_names_are_unique_and_follow_the_differences():
    names = name_clusters(profile_clusters(clustered()))
    assert len(set(names.values())) == 3
    assert "high-spend" in names[2] and "affluent" in names[2]
    assert "low-spend" in names[0] and names[0].endswith("families with children")
    assert "lapsed" not in " ".join(names.values())


def test_profile_table_puts_each_figure_beside_the_overall():
    frame = clustered()
    table = profile_table(frame, {0: "a", 1: "b", 2: "c"})
    assert table["customers"].sum() == len(frame)
    assert (table["income_MU_overall"] == frame["Income"].mean()).all()
    assert {"recency_days", "recency_days_overall", "recency_days_is_different", "top_product_family"} <= set(table.columns)
