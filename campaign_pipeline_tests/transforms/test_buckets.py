"""Partial aggregates over customer buckets: counts of the buckets add up to the whole's."""

import numpy as np
import pandas as pd

from campaign_pipeline.transforms.buckets import ROWS, _labels, count_by


class InMemoryBuckets:
    """A ``FrameSource`` over frames held in memory, one per bucket."""

    def __init__(self, frames: dict[str, pd.DataFrame]):
        self.frames = frames

    def keys(self):
        return list(self.frames)

    def frame(self, key, columns=None):
        frame = self.frames[key]
        return frame if columns is None else frame[[c for c in columns if c in frame.columns]]


def test_counts_of_buckets_add_up_to_the_counts_of_the_whole():
    rng = np.random.default_rng(3)
    whole = pd.DataFrame(
        {
            "Response": rng.choice([0.0, 1.0, np.nan], 500),
            "disposition": rng.choice(["scored", "duplicate", "dropped"], 500),
            "other": rng.normal(size=500),
        }
    )
    buckets = InMemoryBuckets({str(k): whole.iloc[k::4] for k in range(4)})
    by_bucket = count_by(buckets, ["Response", "disposition", "absent"])
    at_once = count_by(whole, ["Response", "disposition"])
    pd.testing.assert_frame_equal(by_bucket, at_once)
    assert list(at_once.columns) == ["Response", "disposition", ROWS]
    assert at_once[ROWS].sum() == len(whole)
    # a missing Response is counted as a value of its own
    missing = at_once[at_once["Response"].isna()][ROWS].sum()
    assert missing == whole["Response"].isna().sum() > 0
    # sorted by the combinations, so the same rows give the same bytes however split
    assert at_once[["Response", "disposition"]].equals(
        at_once[["Response", "disposition"]].sort_values(["Response", "disposition"], na_position="last").reset_index(drop=True)
    )


def test_counting_by_columns_the_data_lack_counts_rows():
    frame = pd.DataFrame({"ID": range(7)})
    assert count_by(InMemoryBuckets({"0": frame[:3], "1": frame[3:]}), ["Response"]).to_dict("list") == {ROWS: [7]}


def test_a_sample_stratified_by_two_columns_keeps_every_class_and_its_floor():
    from campaign_pipeline.transforms.buckets import stable_sample

    rng = np.random.default_rng(4)
    n = 30_000
    whole = pd.DataFrame(
        {"Response": rng.integers(0, 2, n), "contact": rng.random(n) < 0.003, "ID": np.arange(n)},
        index=pd.RangeIndex(2, n + 2, name="line"),
    )
    buckets = InMemoryBuckets({str(k): whole.iloc[k::5] for k in range(5)})
    sample = stable_sample(buckets, 2_000, 0, stratify=["Response", "contact"], floor=20)
    pd.testing.assert_frame_equal(sample, stable_sample(whole, 2_000, 0, stratify=["Response", "contact"], floor=20))
    assert sample.index.is_monotonic_increasing
    classes = sample.groupby(["Response", "contact"]).size()
    assert len(classes) == 4  # the rare contacted classes are kept, at least 20 rows or all of them
    for (response, contact), size in classes.items():
        available = int((whole["Response"].eq(response) & whole["contact"].eq(contact)).sum())
        assert size == available or size >= 20
    assert len(stable_sample(whole.head(500), 2_000, 0, stratify=["Response", "contact"])) == 500


def test_sorted_files_merge_into_one_order_a_chunk_at_a_time(tmp_path):
    from campaign_pipeline.transforms.buckets import merge_sorted

    rng = np.random.default_rng(9)
    whole = pd.DataFrame({"expected_profit": rng.integers(0, 50, 7_000) / 4, "ID": rng.permutation(7_000)})
    order = {"by": ["expected_profit", "ID"], "ascending": [False, True]}
    paths = []
    for k in range(6):
        paths.append(tmp_path / f"{k}.parquet")
        whole.iloc[k::6].sort_values(**order).to_parquet(paths[-1])
    chunks = list(merge_sorted(paths, **order, rows=3_000))
    assert len(chunks) > 1  # held a chunk at a time
    merged = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(merged, whole.sort_values(**order).reset_index(drop=True))
    empty = tmp_path / "empty.parquet"
    whole.iloc[0:0].to_parquet(empty)
    (only,) = merge_sorted([empty], **order)
    assert only.empty and list(only.columns) == ["expected_profit", "ID"]


def test_a_class_of_several_columns_is_their_values_joined():
    frame = pd.DataFrame(
        {"contact": [True, False, True, False], "Response": [1, 0, 1, 1], "rate": [0.5, np.nan, 0.5, np.nan]},
        index=[5, 3, 9, 2],
    )
    assert _labels(frame, ["contact", "Response", "rate"]).tolist() == ["True|1|0.5", "False|0|nan", "True|1|0.5", "False|1|nan"]
    assert _labels(frame, ["Response"]).tolist() == [1, 0, 1, 1]
