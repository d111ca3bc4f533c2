"""segment_preprocessor, scaled_customers, segmentation_model and clustered_customers, called directly."""

import json

import numpy as np
import pandas as pd
import pytest
from dagster import Failure, build_asset_context
from sklearn.compose import ColumnTransformer
from sklearn.utils.validation import check_is_fitted

from campaign_pipeline.assets.segmentation import (
    clustered_customers,
    scaled_customers,
    segment_preprocessor,
)
from campaign_pipeline.transforms.segmentation import (
    SEGMENT_FEATURES,
    SegmentationModel,
)

FORCED_K = 3  # the chain fixture's SegmentationConfig(force_k=3)


def test_segment_preprocessor_is_fitted_on_every_engineered_row(chain):
    result = chain["segment_preprocessor"]
    preprocessor = result.value
    assert isinstance(preprocessor, ColumnTransformer)
    check_is_fitted(preprocessor)
    assert result.metadata["fitted_rows"] == len(chain.value("engineered_customers"))
    assert result.metadata["features"] == list(SEGMENT_FEATURES)


def test_segment_preprocessor_refits_on_new_rows_only_when_called(chain):
    engineered = chain.value("engineered_customers")
    half = segment_preprocessor(engineered_customers=engineered.iloc[: len(engineered) // 2])
    assert half.metadata["fitted_rows"] == len(engineered) // 2
    assert half.value is not chain.value("segment_preprocessor")


def test_scaled_customers_is_id_plus_standardised_seg_columns(chain):
    result = chain["scaled_customers"]
    scaled, engineered = result.value, chain.value("engineered_customers")
    assert scaled.columns[0] == "ID"
    features = [column for column in scaled.columns if column != "ID"]
    assert features and all(column.startswith("seg__") for column in features)
    assert scaled["ID"].tolist() == engineered["ID"].tolist()
    # standardised on these very rows: mean 0, standard deviation 1
    assert np.allclose(scaled[features].mean(), 0, atol=1e-9)
    assert np.allclose(scaled[features].std(ddof=0), 1, atol=1e-6)
    assert not any("Response" in column or "conversion" in column for column in scaled.columns)
    assert result.check_results[0].passed


def test_scaled_customers_reapplies_the_given_preprocessor(chain):
    engineered = chain.value("engineered_customers")
    head = engineered.head(40)
    again = scaled_customers(build_asset_context(), engineered_customers=head, segment_preprocessor=chain.value("segment_preprocessor"))
    expected = chain.value("scaled_customers").head(40)
    pd.testing.assert_frame_equal(again.value.reset_index(drop=True), expected.reset_index(drop=True))


def test_segmentation_model_forced_k_and_its_report(chain):
    result = chain["segmentation_model"]
    model = result.value
    assert isinstance(model, SegmentationModel)
    assert model.k == FORCED_K
    assert result.metadata["k"] == FORCED_K
    assert sorted(model.names) == list(range(FORCED_K))
    assert len(set(model.names.values())) == FORCED_K  # distinct names
    report = chain.base_dir / "reports" / "segmentation.json"
    assert report.is_file()
    written = json.loads(report.read_text())
    assert written["k"] == FORCED_K
    assert written["choice"] == model.metrics["choice"]
    assert (chain.base_dir / "reports" / "k_sweep.png").stat().st_size > 0


def test_segmentation_model_orders_clusters_by_spend(chain):
    clustered = chain.value("clustered_customers")
    spend = clustered.groupby("cluster")["customer_value_index"].median()
    assert spend.idxmin() == 0
    assert spend.idxmax() == FORCED_K - 1


def test_clustered_customers_labels_every_row(chain):
    result = chain["clustered_customers"]
    clustered, model = result.value, chain.value("segmentation_model")
    engineered = chain.value("engineered_customers")
    assert clustered["ID"].tolist() == engineered["ID"].tolist()
    assert clustered["cluster"].notna().all()
    assert set(clustered["cluster"]) == set(range(model.k))
    assert (clustered["cluster_name"] == clustered["cluster"].map(model.names)).all()
    # The engineered columns are shared with the input, which is left as it was.
    assert "cluster" not in engineered.columns and "cluster_name" not in engineered.columns
    pd.testing.assert_frame_equal(clustered[list(engineered.columns)], engineered)
    sizes = clustered["cluster"].value_counts()
    assert result.metadata["cluster_sizes"] == {str(k): int(v) for k, v in sizes.sort_index().items()}
    assert sum(result.metadata["cluster_sizes"].values()) == len(engineered)
    assert result.check_results[0].passed


def test_clustered_customers_uses_the_stored_model_without_refitting(chain):
    model = chain.value("segmentation_model")
    scaled = chain.value("scaled_customers")
    expected = model.predict(scaled.drop(columns=["ID"]))
    assert chain.value("clustered_customers")["cluster"].to_numpy().tolist() == expected.tolist()


def test_clustered_customers_fails_when_a_cluster_has_no_name(chain):
    model = chain.value("segmentation_model")
    broken = SegmentationModel.__new__(SegmentationModel)
    broken.__dict__.update(model.__dict__)
    broken.names = {**model.names}
    broken.names.pop(0)  # cluster 0 loses its name
    with pytest.raises(Failure) as raised:
        clustered_customers(
            build_asset_context(),
            engineered_customers=chain.value("engineered_customers"),
            scaled_customers=chain.value("scaled_customers"),
            segmentation_model=broken,
        )
    assert "cluster_name" in raised.value.description
