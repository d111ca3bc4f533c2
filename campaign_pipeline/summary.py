"""A terminal summary of the latest materialization, for people who live in the terminal.

It reads only what the assets wrote: ``retargeting_impact.parquet`` and the JSON reports
of ``segmentation_model`` and ``response_model`` under the data directory, so every figure
printed is traceable to an asset.

Command line: ``python -m campaign_pipeline.summary [--data-dir DIR]`` (default
``$CAMPAIGN_DATA_DIR`` or ``data``, as ``settings.data_dir`` resolves it). The directory
may be any ``universal-pathlib`` URL the IO managers write to, such as ``s3://bucket/campaign``.
"""

import argparse
import json
import sys

import pandas as pd
from upath import UPath

from campaign_pipeline.settings import data_dir as default_data_dir

IMPACT_COLUMNS = {
    "cluster": "cluster",
    "name": "name",
    "customers": "customers",
    "response_rate": "response rate",
    "expected_profit": "profit, contact all (MU)",
    "targeted_customers": "targeted",
    "targeted_profit": "profit, targeted (MU)",
    "targeted_profit_low": "95% low",
    "targeted_profit_high": "95% high",
    "recommended": "recommended",
}


class MissingOutputs(Exception):
    """The data directory lacks an output this summary reads."""


def _require(path: UPath) -> UPath:
    if not path.exists():
        raise MissingOutputs(f"{path} does not exist: materialize the assets first")
    return path


def _interval(bounds: list[float], spec: str) -> str:
    return f"{format(bounds[0], spec)} to {format(bounds[1], spec)}"


def summarise(data_dir: str | UPath) -> str:
    """The retargeting table, the chosen k and the response model's figures, as text."""
    data_dir = UPath(data_dir)
    # Through the path's own file system, so that object-store URLs read like folders.
    with _require(data_dir / "retargeting_impact.parquet").open("rb") as handle:
        impact = pd.read_parquet(handle, columns=list(IMPACT_COLUMNS)).rename(columns=IMPACT_COLUMNS)
    segmentation = json.loads(_require(data_dir / "reports" / "segmentation.json").read_text())
    model = json.loads(_require(data_dir / "reports" / "response_model.json").read_text())
    recommended = impact.loc[impact["recommended"]].iloc[0]

    table = impact.to_string(
        index=False,
        formatters={
            "response rate": "{:.1%}".format,
            "profit, contact all (MU)": "{:,.0f}".format,
            "profit, targeted (MU)": "{:,.0f}".format,
            "95% low": "{:,.0f}".format,
            "95% high": "{:,.0f}".format,
        },
    )
    lines = [
        f"campaign_pipeline summary of {data_dir}",
        "",
        f"Segments: {segmentation['choice']}",
        "",
        "Retargeting impact per cluster (retargeting_impact):",
        table,
        "",
        f"Retarget cluster {recommended['cluster']} ({recommended['name']}): contacting its "
        f"{recommended['targeted']:,} worthwhile customers is expected to bring "
        f"{recommended['profit, targeted (MU)']:,.0f} MU (95% interval {recommended['95% low']:,.0f} to "
        f"{recommended['95% high']:,.0f}).",
        "",
        f"Response model (response_model): {model['model']}, out of fold on "
        f"{model['cv_evaluated_customers']:,} customers: ROC-AUC {model['cv_roc_auc']:.3f}, "
        f"PR-AUC {model['cv_pr_auc']:.3f}, Brier {model['cv_brier']:.3f}, "
        f"top-decile lift {model['top_decile_lift']:.2f}; 95% intervals: ROC-AUC {_interval(model['cv_roc_auc_interval'], '.3f')}, "
        f"PR-AUC {_interval(model['cv_pr_auc_interval'], '.3f')}.",
        f"Rule: {model['contact_rule']}.",
        f"Campaign on honest scores: contact {model['contacted']:,} of {model['evaluated_customers']:,} customers, "
        f"{model['contacted_responders']:,} respond ({model['contacted_response_rate']:.1%}, 95% interval "
        f"{_interval(model['contacted_response_rate_interval'], '.1%')}), "
        f"profit {model['campaign_profit']:,.0f} MU (95% interval {_interval(model['campaign_profit_interval'], ',.0f')}); "
        f"contacting all {model['evaluated_customers']:,} of the same "
        f"customers: {model['baseline_profit_same_customers']:,.0f} MU; every line of the file as received "
        f"({model['baseline_lines_as_received']:,} lines): {model['baseline_profit_as_received']:,.0f} MU.",
        model["goal_statement"],
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir(), help="the data directory (a folder or a URL)")
    args = parser.parse_args(argv)
    try:
        print(summarise(args.data_dir))
    except MissingOutputs as error:
        print(f"campaign_pipeline.summary: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
