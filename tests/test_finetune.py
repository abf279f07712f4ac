"""Fine-tuning from a trained model (``init="kinetics"``, Table 4's Full-FT): everything but the classifier is
the starting model's, a model of another architecture or stream is refused, the start helps on a related
task, a killed fine-tune resumes exactly (never from a checkpoint of another starting model), and the saved
model says where it started."""
from __future__ import annotations

import re
from dataclasses import asdict

import pytest
import torch
from test_learning import BN_MOMENTUM, CUE, LR, NOISE, balanced_labels, clip_shape
from test_resume import Killed, config, kill_after, max_abs_difference
from test_resume import data as resume_data  # noqa: F401 (its shard fixture, which pytest finds here)

from i3d.models import build, get_spec, list_architectures
from i3d.train.checkpoints import load, save_atomic
from i3d.train.finetune import classifier_prefixes, file_digest, lineage, read_source
from i3d.train.loop import TrainConfig, initialise, lr_at, step_loss, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CASES = [(arch, stream) for arch in list_architectures() for stream in get_spec(arch).model_streams()]


def save_model(path, model: torch.nn.Module, arch: str, stream: str, num_classes: int, init: str = "scratch"):
    """``model`` as ``train`` saves a model.pt."""
    cfg = TrainConfig(arch=arch, stream=stream, num_classes=num_classes, init=init)
    save_atomic(dict(config=asdict(cfg), model=model.state_dict(), selected_epoch=1, val_top1=50.0), path)
    return path


@pytest.mark.parametrize(("arch", "stream"), CASES, ids=[f"{a}-{s}" for a, s in CASES])
def test_everything_but_the_classifier_comes_from_the_starting_model(arch, stream, tmp_path):
    torch.manual_seed(1)
    source = build(arch, num_classes=3, stream=stream)
    for buffer in source.buffers():  # BN statistics unlike a fresh model's, so that copying them shows
        buffer.copy_(torch.randint_like(buffer, 1, 100) if buffer.dtype == torch.long else torch.rand_like(buffer))
    path = save_model(tmp_path / "model.pt", source, arch, stream, 3)
    torch.manual_seed(2)
    model = build(arch, num_classes=5, stream=stream)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    initialise(model, "kinetics", None, read_source(path, arch, stream))

    loaded, trained, head = model.state_dict(), source.state_dict(), classifier_prefixes(model)
    class_dependent = {k for k, v in loaded.items() if v.shape != trained[k].shape}
    assert {k for k in loaded if k.startswith(head)} == class_dependent  # every classifier, nothing else
    for key, value in loaded.items():
        assert torch.equal(value, fresh[key] if key in class_dependent else trained[key]), key
    assert all(loaded[k].shape[0] == 5 for k in class_dependent)


def test_joint_two_stream_has_a_classifier_per_stream():
    assert set(classifier_prefixes(build("two_stream", num_classes=2))) == {"rgb.logits.", "flow.logits."}


@pytest.mark.parametrize(("arch", "stream", "trained"), [
    ("i3d", "rgb", ("two_stream", "rgb")),
    ("two_stream", "rgb", ("two_stream", "flow")),
    ("two_stream", "rgb", ("two_stream", "rgb+flow")),
])
def test_a_model_of_another_architecture_or_stream_is_refused(arch, stream, trained, tmp_path):
    path = save_model(tmp_path / "model.pt", build(trained[0], num_classes=2, stream=trained[1]), *trained, 2)
    with pytest.raises(ValueError, match=re.escape(f"holds a {'-'.join(trained)} model; fine-tuning {arch}-{stream}")):
        read_source(path, arch, stream)


def test_only_a_model_pt_is_a_start(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_atomic(dict(config=asdict(TrainConfig()), model={}, epoch=1), path)
    with pytest.raises(ValueError, match="not a model.pt written by `i3d train`"):
        read_source(path, "i3d", "rgb")


def test_kinetics_init_needs_a_start_and_excludes_imagenet(tmp_path):
    model = build("two_stream", num_classes=2, stream="rgb")
    source = read_source(save_model(tmp_path / "model.pt", model, "two_stream", "rgb", 2), "two_stream", "rgb")
    with pytest.raises(ValueError, match="needs the trained model to start from"):
        initialise(model, "kinetics", None)
    with pytest.raises(ValueError, match="takes no ImageNet weights"):
        initialise(model, "kinetics", tmp_path / "googlenet.pth", source)
    with pytest.raises(ValueError, match="is for init 'kinetics', not 'imagenet'"):
        initialise(model, "imagenet", tmp_path / "googlenet.pth", source)


# A related task: the starting model tells red from blue frames, the new one which of blue, green and red
# is brightest (another class count and order, so its classifier must start afresh). Held-out accuracy of
# Two-Stream RGB after FEW_STEPS: fine-tuned 1.0, from scratch 0.58 (0.60-0.70 with 3 other seeds).
FEW_STEPS, PRETRAIN_STEPS, BATCH, WARMUP = 8, 20, 8, 2
SOURCE_TASK, NEW_TASK = (0, 2), (2, 1, 0)
"""The colour channel each class brightens."""
ARCH, STREAM = "two_stream", "rgb"


def colour_clips(task: tuple[int, ...], labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise clips in which class ``c``'s channel ``task[c]`` is brighter, over a random overall brightness."""
    x = NOISE * torch.randn(len(labels), *clip_shape(ARCH, STREAM), generator=generator)
    x += torch.empty(len(labels), 1, 1, 1, 1).uniform_(-0.3, 0.3, generator=generator)
    x[torch.arange(len(labels)), torch.tensor(task)[labels]] += CUE
    return x


def fit(model: torch.nn.Module, task: tuple[int, ...], steps: int, seed: int) -> None:
    """``steps`` Adam steps on fresh balanced batches (as tests/test_learning.py trains)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, WARMUP, LR)
        labels = balanced_labels(BATCH, len(task), generator)
        loss, _ = step_loss(model, [colour_clips(task, labels, generator)], labels, "clip")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def held_out_accuracy(model: torch.nn.Module, task: tuple[int, ...]) -> float:
    generator = torch.Generator().manual_seed(1000)
    labels = balanced_labels(96, len(task), generator)
    model.eval()
    with torch.no_grad():
        return (model(colour_clips(task, labels, generator)).argmax(1) == labels).float().mean().item()


def test_a_related_start_learns_a_new_task_faster_than_scratch(tmp_path):
    torch.manual_seed(0)
    source = build(ARCH, num_classes=len(SOURCE_TASK), stream=STREAM, dropout=0.0, bn_momentum=BN_MOMENTUM)
    fit(source, SOURCE_TASK, PRETRAIN_STEPS, seed=0)
    path = save_model(tmp_path / "model.pt", source, ARCH, STREAM, len(SOURCE_TASK))
    accuracy = {}
    for init in ("scratch", "kinetics"):
        torch.manual_seed(1)  # the same fresh model, and classifier, for both
        model = build(ARCH, num_classes=len(NEW_TASK), stream=STREAM, dropout=0.0, bn_momentum=BN_MOMENTUM)
        initialise(model, init, None, read_source(path, ARCH, STREAM) if init == "kinetics" else None)
        fit(model, NEW_TASK, FEW_STEPS, seed=1)
        accuracy[init] = held_out_accuracy(model, NEW_TASK)
    print(f"held-out accuracy after {FEW_STEPS} steps: {accuracy}")
    assert accuracy["kinetics"] >= 0.9 and accuracy["kinetics"] >= accuracy["scratch"] + 0.2


# Through ``train``: tests/test_resume.py's shard (2 classes, brightness) and Two-Stream RGB settings.

@pytest.fixture(scope="module")
def shard(request):
    """(manifest, shards) of tests/test_resume.py (its fixture, imported above)."""
    return request.getfixturevalue("resume_data")


@pytest.fixture(scope="module")
def start(shard, tmp_path_factory):
    """A model.pt trained from scratch on the shard, to fine-tune."""
    return train(config(epochs=1), *shard, 1, tmp_path_factory.mktemp("start"), progress=False)


def finetune(shard, start, out, threads: int = 1, **changes):
    return train(config(init="kinetics", **changes), *shard, 1, out, from_model=start, threads=threads,
                 progress=False)


def test_killed_fine_tune_resumes_to_the_uninterrupted_weights(shard, start, tmp_path, monkeypatch, capsys):
    whole = load(finetune(shard, start, tmp_path / "whole"))
    with monkeypatch.context() as patch:
        kill_after(patch, 1)
        with pytest.raises(Killed):
            finetune(shard, start, tmp_path / "resumed")
    resumed = load(finetune(shard, start, tmp_path / "resumed"))
    assert "resuming from epoch 1" in capsys.readouterr().out
    assert max_abs_difference(whole["model"], resumed["model"]) == 0
    assert resumed["selected_epoch"] == whole["selected_epoch"]


def test_fine_tune_of_another_starting_model_is_not_resumed(shard, start, tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as patch:
        kill_after(patch, 1)
        with pytest.raises(Killed):
            finetune(shard, start, tmp_path / "run")
    retrained = load(start)
    retrained["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in retrained["model"].items()}
    save_atomic(retrained, tmp_path / "retrained.pt")
    finetune(shard, tmp_path / "retrained.pt", tmp_path / "run")
    out = capsys.readouterr().out
    assert "written from other starting model" in out and "resuming" not in out


def test_saved_model_records_its_start(shard, start, tmp_path):
    """Kinetics from scratch, then this data; ImageNet, then Kinetics, then this data."""
    model = load(finetune(shard, start, tmp_path / "from_scratch", epochs=1))
    assert model["start"] == dict(path=str(start), sha256=file_digest(start), num_classes=2, init="scratch",
                                  start=None)
    assert lineage(model) == ["scratch", "kinetics"]
    imagenet_start = load(start)
    imagenet_start["config"]["init"] = "imagenet"
    save_atomic(imagenet_start, tmp_path / "imagenet_kinetics.pt")
    model = load(finetune(shard, tmp_path / "imagenet_kinetics.pt", tmp_path / "from_imagenet", epochs=1))
    assert lineage(model) == ["imagenet", "kinetics"]
    assert lineage(load(start)) == ["scratch"]


def test_body_learning_rate_scale(shard, start, tmp_path):
    """At scale 0 only the classifier learns (BN statistics still follow the data); at 1 the body does too."""
    source = load(start)["model"]
    for scale in (0.0, 1.0):
        model = build(ARCH, num_classes=2, stream=STREAM)
        model.load_state_dict(load(finetune(shard, start, tmp_path / str(scale), epochs=1,
                                            body_lr_scale=scale))["model"])
        head = classifier_prefixes(model)
        body_moved = [k for k, p in model.named_parameters() if not k.startswith(head) and not torch.equal(p, source[k])]
        assert bool(body_moved) == bool(scale), scale
