"""The package's shared input checks (vae_teach.utils)."""
import hashlib

import pytest
import torch

from vae_teach.cache import _tensor_digest
from vae_teach.train import binarize_each_epoch
from vae_teach.utils import all_finite, validate_tensor


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16],
                         ids=lambda d: str(d).removeprefix("torch."))
def test_all_finite_agrees_with_isfinite_everywhere(dtype):
    gen = torch.Generator().manual_seed(0)
    for trial in range(300):
        x = torch.randn(int(torch.randint(1, 50, (1,), generator=gen)), 7, generator=gen).to(dtype)
        n_bad = int(torch.randint(0, 3, (1,), generator=gen))
        for _ in range(n_bad):       # a NaN, +inf or -inf anywhere, the first and last entry included
            where = int(torch.randint(0, x.numel(), (1,), generator=gen))
            bad = (float("nan"), float("inf"), -float("inf"))[trial % 3]
            x.view(-1)[where] = bad
        assert all_finite(x) == bool(torch.isfinite(x).all()), (trial, x)


def test_all_finite_on_edges():
    assert all_finite(torch.empty(0))
    assert all_finite(torch.tensor(3.0))
    assert not all_finite(torch.tensor(float("nan")))
    assert all_finite(torch.full((4,), torch.finfo(torch.float32).max))     # huge but finite
    assert not all_finite(torch.ones(3, 4).t().contiguous().t().index_fill(0, torch.tensor([2]), -float("inf")))
    assert not all_finite(torch.zeros(5, requires_grad=True) * float("nan"))


def test_validate_tensor_still_counts_the_bad_values():
    x = torch.rand(8000, 784)
    x[-1, -1], x[0, 0] = float("nan"), float("inf")
    with pytest.raises(ValueError, match=r"x_train contains 2 NaN or infinite"):
        validate_tensor("x_train", x)


def test_grey_level_check_finds_one_grey_pixel_in_the_last_row():
    x = torch.bernoulli(torch.full((5000, 784), 0.3))
    assert binarize_each_epoch(x, "auto") is False
    x[-1, -1] = 0.5
    assert binarize_each_epoch(x, "auto") is True


def test_data_digest_is_the_sha256_of_the_bytes():
    """The cache key hashes the data's buffer in place; the digest is that of its bytes, so keys
    made before (from a copy of the bytes) still match."""
    x = torch.rand(300, 7)
    for t in (x, x.t(), x.double()):
        expected = hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]
        assert _tensor_digest(t) == f"{expected}:{tuple(t.shape)}"
