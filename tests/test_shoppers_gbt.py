"""The benchmark's hold-out split on the real shoppers file: stratified, a partition, seeded."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.shoppers_gbt import DEFAULT_CSV, stratified_holdout

pytestmark = pytest.mark.skipif(
    not DEFAULT_CSV.exists(),
    reason=f"{DEFAULT_CSV} is absent (a public file, see ../shared/data/README.md)",
)
TEST_FRACTION = 0.25
SEED = 42


@pytest.fixture(scope="module")
def labels() -> list[bool]:
    """Revenue of every row, in file order; the row id is the position in this list."""
    revenue = pd.read_csv(DEFAULT_CSV, sep=";", usecols=["Revenue"])["Revenue"]
    assert revenue.dtype == bool
    return revenue.tolist()


def _split(labels: list[bool], seed: int = SEED) -> tuple[list[int], list[int]]:
    return stratified_holdout(range(len(labels)), labels, TEST_FRACTION, seed)


def test_holdout_keeps_the_files_positive_rate_within_one_row(labels: list[bool]) -> None:
    _, test_ids = _split(labels)

    expected_positives = len(test_ids) * sum(labels) / len(labels)
    holdout_positives = sum(labels[row_id] for row_id in test_ids)

    assert abs(holdout_positives - expected_positives) <= 1


def test_train_and_holdout_are_disjoint_and_cover_every_row(labels: list[bool]) -> None:
    train_ids, test_ids = _split(labels)

    assert set(train_ids).isdisjoint(test_ids)
    assert sorted(train_ids + test_ids) == list(range(len(labels)))
    assert len(test_ids) == math.ceil(TEST_FRACTION * len(labels))


def test_the_same_seed_gives_the_same_split(labels: list[bool]) -> None:
    assert _split(labels, seed=SEED) == _split(labels, seed=SEED)


def test_another_seed_gives_another_split(labels: list[bool]) -> None:
    assert _split(labels, seed=SEED)[1] != _split(labels, seed=SEED + 1)[1]
