"""The one device rule of the package (i3d.device), and the stages that follow it."""
from __future__ import annotations

import torch

from i3d.device import resolve_device


def test_auto_means_cuda_when_present_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_the_flow_stage_resolves_its_device_by_that_rule(monkeypatch):
    from i3d.flow.torch_backend import TorchTVL1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert TorchTVL1(device="auto").device == torch.device("cuda")
