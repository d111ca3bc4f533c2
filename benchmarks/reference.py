"""The whole graph without Dagster's orchestration: every asset function called directly,
in graph order, with its default configuration, writing the same Parquet files (and models,
charts, reports, exports).

The asset functions are the project's own, so the only difference in time from a
materialization is what Dagster adds around them: run and event storage, the IO managers,
step orchestration.

    python -m benchmarks.reference CUSTOMERS.csv OUT_DIR
"""

import inspect
import pickle
import sys
from pathlib import Path

import pandas as pd
from dagster import MaterializeResult, build_asset_context

from campaign_pipeline.definitions import build_definitions


def run_reference(csv_path: str | Path, out_dir: str | Path) -> None:
    """Compute every asset of the graph from ``csv_path`` into ``out_dir``."""
    out = Path(out_dir)
    (out / "models").mkdir(parents=True, exist_ok=True)
    defs = build_definitions(data_dir=str(out), raw_csv=str(csv_path))
    graph = defs.resolve_asset_graph()
    resources = defs.resources
    values = {}
    for key in graph.toposorted_asset_keys:
        if key.to_user_string() in values:  # computed with the other outputs of its multi-asset
            continue
        assets_def = graph.get(key).assets_def
        function = assets_def.op.compute_fn.decorated_fn
        arguments = {}
        for name, parameter in inspect.signature(function).parameters.items():
            if name == "context":
                arguments[name] = build_asset_context()
            elif name == "config":
                arguments[name] = parameter.annotation()  # the defaults
            elif name in resources:
                arguments[name] = resources[name]
            else:
                arguments[name] = values[name]
        result = assets_def(**arguments)
        # A multi-asset returns one result per output, in the order of its outs.
        results = (result,) if isinstance(result, MaterializeResult) else result
        for output, materialized in zip(assets_def.op.output_defs, results):
            name, value = assets_def.keys_by_output_name[output.name].to_user_string(), materialized.value
            values[name] = value
            if isinstance(value, pd.DataFrame):
                value.to_parquet(out / f"{name}.parquet", index=False, compression="zstd")
            elif value is not None:
                (out / "models" / f"{name}.pkl").write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    run_reference(sys.argv[1], sys.argv[2])
