"""Checkpoints written before the multivariate detectors shared their state code still load.

The blobs below were written by `MahalanobisDetector.checkpoint()` and
`PcaT2QDetector.checkpoint()` at commit f047990 (each detector learnt `samples(30)`), and the
expected scores are what those detectors gave on the next five samples at that commit.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import msgpack
import numpy as np
import pytest

from ifactory.analytics.base import Detector, restore
from ifactory.analytics.detectors.multivariate import MahalanobisDetector
from ifactory.analytics.detectors.pca import PcaT2QDetector

MAHALANOBIS_F047990 = (
    "haZmb3JtYXSxaWZhY3RvcnkuZGV0ZWN0b3KndmVyc2lvbgGoZGV0ZWN0b3KrbWFoYWxhbm9iaXOmcGFyYW1ziKhmZWF0"
    "dXJlc8Cpc2hyaW5rYWdlyz+5mZmZmZmaqXNtb290aGluZ8s/uZmZmZmZmqxmcmVlemVfYWZ0ZXLAq3JlZml0X2V2ZXJ5"
    "BaVncmFjZQWtZHJpZnRfaG9yaXpvbssAAAAAAAAAAKhkcmlmdF9zZMClc3RhdGWKqGZlYXR1cmVzkqRmbG93qHByZXNz"
    "dXJloW4epG1lYW6Eq19fbmRhcnJheV9fw6VkdHlwZaM8Zjilc2hhcGWRAqRkYXRhxBC6elCP1nLTP76WGpQabwBAqGNv"
    "bW9tZW50hKtfX25kYXJyYXlfX8OlZHR5cGWjPGY4pXNoYXBlkgICpGRhdGHEIK5isuNkIy1AbUoHsvugJ0BsSgey+6An"
    "QFP2ULbF5ixApWxldmVsy0ABa6TGY+IZpnRfbWVhbstALQAAAAAAAKR0X20yy0ChjwAAAAAAq3R4X2NvbW9tZW50hKtf"
    "X25kYXJyYXlfX8OlZHR5cGWjPGY4pXNoYXBlkQKkZGF0YcQQuJomnOldAUBGcssK7SJBwKlmaXR0ZWRfYXQdp2ludmVy"
    "c2WEq19fbmRhcnJheV9fw6VkdHlwZaM8Zjilc2hhcGWSAgKkZGF0YcQgBWAU1TrxEEDLiBYq858JwMuIFirznwnAOS8E"
    "fBEUEkA="
)
MAHALANOBIS_NEXT_SCORES = [
    2.1163381511365253,
    2.141336847832659,
    2.248142053764684,
    2.5817187560325587,
    2.7075494548275802,
]

PCA_T2Q_F047990 = (
    "haZmb3JtYXSxaWZhY3RvcnkuZGV0ZWN0b3KndmVyc2lvbgGoZGV0ZWN0b3KncGNhX3QycaZwYXJhbXOKqGZlYXR1cmVz"
    "wKRsYWdzAah2YXJpYW5jZcs/7MzMzMzMzalzbW9vdGhpbmfLP7mZmZmZmZqsZnJlZXplX2FmdGVywKtyZWZpdF9ldmVy"
    "eQWlZ3JhY2UFpXRyYWNryz+5mZmZmZmapGdhdGXLf/AAAAAAAACndHJhY2tlZMClc3RhdGWPqGZlYXR1cmVzkqRmbG93"
    "qHByZXNzdXJloW4dpG1lYW6Eq19fbmRhcnJheV9fw6VkdHlwZaM8Zjilc2hhcGWRBKRkYXRhxCBooQG8RmXDP5TY6EYb"
    "79G/opSYs4hRwT/p3ZjZ6SLUv6hjb21vbWVudISrX19uZGFycmF5X1/DpWR0eXBlozxmOKVzaGFwZZIEBKRkYXRhxIAA"
    "J53flr0rQKoqYm36iyRAz7APkRzZKUDIxl6ifrYkQKsqYm36iyRAgTNUfdRqKUCoGeI6cLEiQEtcgtl4ISdAz7APkRzZ"
    "KUCoGeI6cLEiQLjGmalPkStAdmZHFiSdI0DIxl6ifrYkQExcgtl4ISdAdmZHFiSdI0B1pJRB/TwmQKdoaXN0b3J5hKtf"
    "X25kYXJyYXlfX8OlZHR5cGWjPGY4pXNoYXBlkgECpGRhdGHEEE8583lDHt4/iE34TjPv7z+mZmlsbGVkAaRiYXNlhKtf"
    "X25kYXJyYXlfX8OlZHR5cGWjPGY4pXNoYXBlkQKkZGF0YcQQ2vabkKYf3D9/MeVPuX8BQKRzZWVuHqVsZXZlbMtAFvZW"
    "Ck3yEalmaXR0ZWRfYXQYpmNlbnRlcoSrX19uZGFycmF5X1/DpWR0eXBlozxmOKVzaGFwZZEEpGRhdGHEIFSlNacN+pc/"
    "fNALgVsN4L+MOSIZQviFv5tI5ee6x+C/pXNjYWxlhKtfX25kYXJyYXlfX8OlZHR5cGWjPGY4pXNoYXBlkQSkZGF0YcQg"
    "GU1FrhJ75j9kLn6IieffP7EsIOr80OU/EEXkVFRp3T+obG9hZGluZ3OEq19fbmRhcnJheV9fw6VkdHlwZaM8Zjilc2hh"
    "cGWSBAKkZGF0YcRA6iXKz/yp4L/xZE+PLxfQvxD4PWui3N6/gDQiFIVM5D/+pZBA73Dev65tsGF3mOW/HUueGRWh4L9j"
    "Xiuh/fvRP6NlaWeEq19fbmRhcnJheV9fw6VkdHlwZaM8Zjilc2hhcGWRAqRkYXRhxBDg7qSTng8MQGGG4EQ1cNs/pnRo"
    "ZXRhMcs/sEtYd+AKQg=="
)
PCA_T2Q_NEXT_SCORES = [
    5.874010193612624,
    5.7340447580895,
    5.711935853260272,
    6.06771223249988,
    6.2562433706955956,
]


def samples(n: int, start: int = 0) -> list[dict[str, float]]:
    """Two correlated-ish tags with a little structure; the same rows that wrote the blobs."""
    return [
        {
            "flow": math.sin(0.3 * i) + 0.1 * (i % 3),
            "pressure": 2.0 + math.cos(0.2 * i) + 0.05 * (i % 5),
        }
        for i in range(start, start + n)
    ]


def state_keys(blob: bytes) -> set[str]:
    return set(msgpack.unpackb(blob, raw=False)["state"])


@pytest.mark.parametrize(
    ("cls", "blob_b64", "expected"),
    [
        (MahalanobisDetector, MAHALANOBIS_F047990, MAHALANOBIS_NEXT_SCORES),
        (PcaT2QDetector, PCA_T2Q_F047990, PCA_T2Q_NEXT_SCORES),
    ],
)
def test_old_checkpoint_loads_and_scores_as_it_did(
    cls: type[Detector], blob_b64: str, expected: list[float]
) -> None:
    blob = base64.b64decode(blob_b64)
    restored = restore(blob)
    assert type(restored) is cls
    assert restored.score_learn_many(samples(5, start=30)).tolist() == pytest.approx(
        expected, rel=1e-12
    )
    # The format is unchanged: a checkpoint written now has the same state fields as then.
    assert state_keys(restored.checkpoint()) == state_keys(blob)


@pytest.mark.parametrize(
    ("detector", "blob_b64"),
    [
        (MahalanobisDetector(grace=5, refit_every=5), MAHALANOBIS_F047990),
        (PcaT2QDetector(lags=1, grace=5, refit_every=5, track=0.1), PCA_T2Q_F047990),
    ],
)
def test_same_training_writes_the_same_state_as_before(detector: Detector, blob_b64: str) -> None:
    detector.learn_many(samples(30))
    old = msgpack.unpackb(base64.b64decode(blob_b64), raw=False)["state"]
    new = msgpack.unpackb(detector.checkpoint(), raw=False)["state"]
    assert_same_state(new, old)


def assert_same_state(new: Any, old: Any, path: str = "state") -> None:
    """Equal fields, types, dtypes and shapes; floats equal up to the last bits.

    An eigendecomposition (PCA) differs in its last bits between CPUs and LAPACK builds, so
    floats are compared to 1e-9 relative, everything else exactly.
    """
    if isinstance(old, dict) and old.get("__ndarray__"):
        assert isinstance(new, dict) and new.get("__ndarray__"), path
        assert (new["dtype"], new["shape"]) == (old["dtype"], old["shape"]), path
        a = np.frombuffer(new["data"], dtype=new["dtype"])
        b = np.frombuffer(old["data"], dtype=old["dtype"])
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=path)
        else:
            assert a.tolist() == b.tolist(), path
    elif isinstance(old, dict):
        assert isinstance(new, dict) and set(new) == set(old), path
        for key in old:
            assert_same_state(new[key], old[key], f"{path}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            assert_same_state(a, b, f"{path}[{i}]")
    elif isinstance(old, float):
        assert isinstance(new, float) and new == pytest.approx(old, rel=1e-9, abs=1e-12), path
    else:
        assert new == old and type(new) is type(old), path
