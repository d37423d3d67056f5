"""A shard that should run on a GPU and has none fails at once, naming what torch sees,
instead of running for hours on the CPU (omtx_hub.predict.resolve_accelerator)."""

from __future__ import annotations

import pytest
import torch

from omtx_hub.predict import ShardError, resolve_accelerator


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")


def test_auto_uses_the_cpu_only_where_no_gpu_was_attached(no_cuda):
    assert resolve_accelerator("auto") == "cpu"
    assert resolve_accelerator("cpu", gpu_attached=True) == "cpu"  # asked for explicitly


@pytest.mark.parametrize(
    ("accelerator", "gpu_attached", "what"),
    [("auto", True, "'auto' on a job given a GPU (nvidia_gpu)"), ("gpu", False, "'gpu' but")],
)
def test_a_missing_gpu_fails_at_once_naming_the_cause(no_cuda, accelerator, gpu_attached, what):
    with pytest.raises(ShardError) as error:
        resolve_accelerator(accelerator, gpu_attached)
    message = str(error.value)
    assert f"runtime.accelerator is {what}" in message
    assert "GPU: no CUDA device" in message
    assert f"torch {torch.__version__} built for CUDA {torch.version.cuda or 'none'}" in message
    assert "NVIDIA driver: " in message and "CUDA_VISIBLE_DEVICES=0" in message


def test_a_visible_gpu_is_used_and_logged(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA L4")
    caplog.set_level("INFO", logger="omtx_hub.predict")
    assert resolve_accelerator("auto") == resolve_accelerator("gpu") == "gpu"
    assert resolve_accelerator("auto", gpu_attached=True) == "gpu"
    assert "GPU: NVIDIA L4; torch " in caplog.text
