"""I3D's whole-clip test forward in overlapping temporal chunks gives the features and logits of one pass."""
from __future__ import annotations

import pytest
import torch

from i3d.models.clip_outputs import clip_logits
from i3d.models.whole_clip import whole_clip_features
from i3d.models.i3d import InceptionI3d


@pytest.fixture(scope="module")
def i3d():
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=5).eval()
    torch.nn.init.normal_(model.logits.conv3d.weight, std=1.0)  # logits well away from 0: a relative tolerance
    return model


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("frames", [403, 400])  # a length that is not a multiple of the stride 8, and one that is
def test_chunked_features_equal_the_one_pass_features(i3d, frames, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(1, 3, frames, 16, 16, generator=torch.Generator().manual_seed(frames))
        with torch.inference_mode():
            one_pass = i3d.features(x)
            chunked = whole_clip_features(i3d, x, chunk_frames=200)  # 7 chunks
    finally:
        torch.set_num_threads(previous)
    assert (chunked - one_pass).abs().max() <= 1e-5 * one_pass.abs().max()


def test_predict_sends_a_long_clip_through_in_chunks_and_a_short_one_in_one_pass(i3d, monkeypatch, one_torch_thread):
    lengths = []
    real = InceptionI3d.features_per_time
    monkeypatch.setattr(InceptionI3d, "features_per_time", lambda self, x: lengths.append(x.shape[2]) or real(self, x))
    x = torch.randn(1, 3, 403, 16, 16, generator=torch.Generator().manual_seed(1))  # S=1 whole-clip sample
    with torch.inference_mode():
        chunked = clip_logits(i3d, [x], chunk_frames=200)
        assert len(lengths) == 7 and max(lengths) <= 200 + 7
        lengths.clear()
        one_pass = clip_logits(i3d, [x], chunk_frames=512)
    assert lengths == [403]
    assert (chunked - one_pass).abs().max() <= 1e-5 * one_pass.abs().max()


def test_chunks_too_short_for_the_receptive_field_are_refused(i3d):
    with pytest.raises(ValueError, match="chunk_frames must be >= 144"):
        whole_clip_features(i3d, torch.zeros(1, 3, 200, 16, 16), chunk_frames=100)
