"""Loading C-MAPSS subsets in the public file layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ifactory.analytics.rul.cmapss import CmapssDataError, load_subset
from tests.analytics.rul.synthetic import write_subset


def test_loads_units_in_file_order_with_settings_sensors_and_true_rul(tmp_path: Path) -> None:
    truth = write_subset(tmp_path, "FD003", train_units=4, test_units=3)
    subset = load_subset(tmp_path, "fd003")
    assert subset.name == "FD003"
    assert [u.unit for u in subset.train] == [1, 2, 3, 4]
    assert [u.unit for u in subset.test] == [1, 2, 3]
    assert subset.train[0].settings.shape[1] == 3
    assert subset.train[0].sensors.shape[1] == 21
    assert subset.test_rul.tolist() == truth.tolist()


def test_missing_file_or_wrong_rul_count_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CmapssDataError, match=r"train_FD001\.txt not found"):
        load_subset(tmp_path, "FD001")
    write_subset(tmp_path, "FD001", train_units=3, test_units=3)
    (tmp_path / "RUL_FD001.txt").write_text("10\n20\n")
    with pytest.raises(CmapssDataError, match="2 values for 3 test units"):
        load_subset(tmp_path, "FD001")
    with pytest.raises(CmapssDataError, match="subset"):
        load_subset(tmp_path, "../x")


def test_wrong_column_count_or_broken_cycles_are_refused(tmp_path: Path) -> None:
    write_subset(tmp_path, "FD001", train_units=2, test_units=2)
    rows = np.loadtxt(tmp_path / "train_FD001.txt")
    np.savetxt(tmp_path / "train_FD001.txt", rows[:, :20])
    with pytest.raises(CmapssDataError, match="20 columns"):
        load_subset(tmp_path, "FD001")
    rows[3, 1] = 99  # unit 1's 4th cycle numbered 99
    np.savetxt(tmp_path / "train_FD001.txt", rows)
    with pytest.raises(CmapssDataError, match="cycles"):
        load_subset(tmp_path, "FD001")


@pytest.mark.skipif(
    not Path("/work/shared/data/cmapss/train_FD001.txt").exists(), reason="public FD001 not here"
)
def test_public_fd001_has_the_published_shape() -> None:
    subset = load_subset(Path("/work/shared/data/cmapss"), "FD001")
    assert len(subset.train) == 100 and len(subset.test) == 100
    assert sum(u.cycles for u in subset.train) == 20631
