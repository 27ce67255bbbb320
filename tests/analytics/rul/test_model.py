"""RUL model construction: refactoring the builders must not change what a seed initialises.

The hashes below were taken at commit f047990 (torch 2.13) before the two transformer encoders
were built by one helper: each model built under `torch.manual_seed(0)` must keep the same
parameter names, shapes, dtypes and values, so a seeded run trains exactly as before and a
saved state dict still loads. (A torch release that changes its initialisers would change them
too; retake the snapshot then, on the commit before any model change.)
"""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("torch")

import torch

from ifactory.analytics.rul.config import ARCHITECTURES
from ifactory.analytics.rul.model import build_model

N_FEATURES, WINDOW = 5, 12

# (architecture, width, layers) -> sha256 of the state dict built under torch.manual_seed(0)
SNAPSHOT: dict[tuple[str, int, int], str] = {
    ("transformer", 16, 2): "a51faf3c5ef397fe86ace3b88392bd70d859476413d25abf9fd2c8ada9346af4",
    ("transformer", 64, 2): "41ad7d8d9e74ec794a6ab16bcafaa98c42dfca98e42702b0d23188336e46d49d",
    ("cnn", 16, 2): "dc6b8b8ba5586173f66fbbeebc9e0558826b744300b67439154abd63d84690f4",
    ("cnn", 64, 2): "d4abfcbc399daec5fd4788b2db9a42365cf02ae5bcd984430db4ea50e6190756",
    ("cnn-attention", 16, 2): "7e8ae264beadefdc94a3c725b54c35ab73a14a0d28dc581950e446dd97825fe5",
    ("cnn-attention", 64, 2): "58ef0656583b47cc29e622df8b3754756cad3a99318e7870f94d2054e0f4813e",
    ("dual-attention", 16, 2): "83fd22f3ba1de3333cbfb8ef564cdba6818cdd9de0cfa7f5c2bd4cc92d54c140",
    ("dual-attention", 64, 2): "26f495ed332013bad6cc3a49cd83b710ba7f2cbea5313bb299f3408a982a134c",
}


def state_dict_digest(model: torch.nn.Module) -> str:
    """sha256 over every state-dict entry in order: name, dtype, shape and raw values."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def seeded(architecture: str, width: int, layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(architecture, N_FEATURES, WINDOW, width=width, layers=layers, dropout=0.1)


def test_snapshot_covers_every_architecture() -> None:
    assert {arch for arch, _, _ in SNAPSHOT} == set(ARCHITECTURES)


@pytest.mark.parametrize(("architecture", "width", "layers"), sorted(SNAPSHOT))
def test_seeded_state_dict_is_unchanged(architecture: str, width: int, layers: int) -> None:
    assert (
        state_dict_digest(seeded(architecture, width, layers))
        == SNAPSHOT[(architecture, width, layers)]
    )


def test_same_seed_builds_the_same_model_twice() -> None:
    # The snapshot only means something if a seed fixes every initial value.
    for architecture in ARCHITECTURES:
        first = seeded(architecture, 16, 2).state_dict()
        second = seeded(architecture, 16, 2).state_dict()
        assert list(first) == list(second)
        assert all(torch.equal(first[k], second[k]) for k in first)


def test_encoder_layers_start_equal_and_train_apart() -> None:
    # nn.TransformerEncoder deep-copies its layer, so the stacked layers start identical; each
    # is its own parameter set (not shared), as in the models before the helper.
    model = seeded("transformer", 16, 2)
    layers = model.encoder.layers
    assert torch.equal(layers[0].linear1.weight, layers[1].linear1.weight)
    assert layers[0].linear1.weight is not layers[1].linear1.weight
