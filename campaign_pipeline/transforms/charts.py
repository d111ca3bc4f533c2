"""Charts as PNG bytes (matplotlib, no display needed), with every label in real units."""

import io

import numpy as np
import pandas as pd

DPI = 100


def _pyplot():
    """matplotlib, imported on the first chart: loading the definitions (every ``dg``
    command, every run) does not pay for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    # A fixed creation date keeps the bytes identical from run to run.
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def k_sweep_chart(sweep: pd.DataFrame, chosen_k: int) -> bytes:
    """Elbow (inertia) and silhouette by k, the chosen k marked."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(sweep["k"], sweep["inertia"], marker="o")
    left.set(title="Elbow: inertia by k", xlabel="k (clusters)", ylabel="inertia")
    right.plot(sweep["k"], sweep["silhouette"], marker="o", label="silhouette")
    right.plot(sweep["k"], sweep["stability_ari"], marker="s", linestyle="--", label="stability (ARI)")
    right.set(title="Quality by k", xlabel="k (clusters)", ylim=(0, 1.05))
    for axis in (left, right):
        axis.axvline(chosen_k, color="crimson", linestyle=":", label=f"chosen k = {chosen_k}")
    right.legend(loc="lower left", fontsize=8)
    return _png(figure)


def impact_chart(table: pd.DataFrame) -> bytes:
    """Expected profit per cluster: contact everyone versus contact only the worthwhile."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 3.4))
    positions = np.arange(len(table))
    labels = [f"{row.cluster}: {row.name}" for row in table.itertuples()]
    axis.bar(positions - 0.2, table["expected_profit"], width=0.4, label="contact everyone")
    axis.bar(positions + 0.2, table["targeted_profit"], width=0.4, label="contact if expected profit > 0")
    for position, recommended, profit in zip(positions, table["recommended"], table["targeted_profit"]):
        if recommended:
            axis.annotate("recommended", (position + 0.2, profit), ha="center", va="bottom", color="crimson", fontsize=8)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(positions, labels, rotation=20, ha="right", fontsize=8)
    axis.set(ylabel="expected profit (MU)", title="Retargeting impact per cluster")
    axis.legend(fontsize=8)
    return _png(figure)


def segment_rates_chart(rates: pd.DataFrame) -> bytes:
    """Response rate per segment with 95% Wilson intervals, one panel per dimension."""
    plt = _pyplot()
    dimensions = list(dict.fromkeys(rates["dimension"]))
    figure, axes = plt.subplots(1, len(dimensions), figsize=(3.2 * len(dimensions), 3.2), sharey=True)
    for axis, dimension in zip(np.atleast_1d(axes), dimensions):
        part = rates[rates["dimension"].eq(dimension)]
        errors = [part["response_rate"] - part["response_rate_low"], part["response_rate_high"] - part["response_rate"]]
        axis.bar(part["segment"], part["response_rate"], yerr=errors, capsize=3, color="steelblue")
        for position, size in enumerate(part["customers"]):
            axis.annotate(f"n={size}", (position, 0), ha="center", va="bottom", fontsize=7, color="white")
        axis.set_title(dimension.replace("_", " "), fontsize=9)
        axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    np.atleast_1d(axes)[0].set_ylabel("response rate (95% Wilson CI)")
    return _png(figure)


def pca_scatter_chart(coordinates: np.ndarray, labels: np.ndarray, names: dict[int, str], explained: np.ndarray) -> bytes:
    """Customers on the first two principal components, coloured by the chosen model's labels."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for cluster in sorted(np.unique(labels)):
        points = coordinates[labels == cluster]
        axis.scatter(points[:, 0], points[:, 1], s=6, alpha=0.6, label=f"{cluster}: {names.get(int(cluster), '')}")
    axis.set(
        xlabel=f"PC1 ({explained[0]:.0%} of variance)",
        ylabel=f"PC2 ({explained[1]:.0%} of variance)",
        title=f"Segments (k = {len(np.unique(labels))}) on the segmentation features",
    )
    axis.legend(fontsize=7, markerscale=2, loc="best")
    return _png(figure)


def profit_curve_chart(curve: pd.DataFrame, chosen_share: float, chosen_profit: float) -> bytes:
    """Out-of-fold campaign profit by share of customers contacted, best first."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 3.4))
    axis.plot(curve["contact_share"] * 100, curve["profit"], marker=".")
    axis.axhline(0, color="black", linewidth=0.8)
    axis.scatter([chosen_share * 100], [chosen_profit], color="crimson", zorder=3, label="break-even rule p x revenue > cost")
    axis.set(xlabel="customers contacted, best scores first (%)", ylabel="profit (MU, out of fold)", title="Profit curve")
    axis.legend(fontsize=8)
    return _png(figure)


def scenario_chart(scenarios: pd.DataFrame) -> bytes:
    """Expected profit by cost per contact, one line per revenue per response (no budget)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.4))
    unbudgeted = scenarios[scenarios["max_contacts"].isna() & scenarios["budget_mu"].isna()]
    for revenue, rows in unbudgeted.groupby("revenue_per_response"):
        rows = rows.sort_values("cost_per_contact")
        axis.plot(rows["cost_per_contact"], rows["expected_profit"], marker="o", label=f"{revenue:g} MU per response")
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set(title="What-if: expected profit of the break-even campaign", xlabel="cost per contact (MU)",
             ylabel="expected profit (MU)")
    axis.legend(fontsize=8)
    return _png(figure)


def calibration_chart(calibration: pd.DataFrame, break_even: float) -> bytes:
    """Observed response rate against mean predicted probability, by decile of honest score."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    axis.plot(calibration["predicted"], calibration["observed"], marker="o", label="deciles of score")
    axis.axvline(break_even, color="crimson", linestyle="--", label=f"break-even p = {break_even:.3f}")
    axis.set(title="Calibration (honest scores)", xlabel="mean predicted probability", ylabel="observed response rate",
             xlim=(0, 1), ylim=(0, 1))
    axis.legend(fontsize=8)
    return _png(figure)
