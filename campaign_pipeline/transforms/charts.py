"""Charts as PNG bytes (matplotlib, no display needed), with every label in real units."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 100


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    # A fixed creation date keeps the bytes identical from run to run.
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def k_sweep_chart(sweep: pd.DataFrame, chosen_k: int) -> bytes:
    """Elbow (inertia) and silhouette by k, the chosen k marked."""
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
    figure, axis = plt.subplots(figsize=(8, 3.4))
    positions = np.arange(len(table))
    labels = [f"{row.cluster}: {row.name}" for row in table.itertuples()]
    axis.bar(positions - 0.2, table["expected_profit"], width=0.4, label="contact everyone")
    axis.bar(positions + 0.2, table["targeted_profit"], width=0.4, label="contact if expected profit > 0")
    for position, recommended in zip(positions, table["recommended"]):
        if recommended:
            axis.annotate("recommended", (position + 0.2, 0), ha="center", va="bottom", color="crimson", fontsize=8)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(positions, labels, rotation=20, ha="right", fontsize=8)
    axis.set(ylabel="expected profit (MU)", title="Retargeting impact per cluster")
    axis.legend(fontsize=8)
    return _png(figure)
