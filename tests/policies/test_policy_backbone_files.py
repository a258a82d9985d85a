"""Loading pretrained files safely and knowing exactly which: CLIP (and Kosmos-2) weights in whatever
format they come — safetensors, else PyTorch files through `torch.load(weights_only=True)`, which
refuses a pickle that would run code — at a pinned revision of a hub cache (a fake one, offline, built
here as the hub lays it out), and a backbone identity that covers every byte of the weights, the
tokenizer and the preprocessor config (hashed once, cached by size and mtime)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import CLIPModel

from policies import PolicyLoadError
from policies.checkpoint import load_checkpoint, save_checkpoint
from policies.fingerprint import backbone_identity
from policies.kosmos2.backbone import load_hf_config, load_weights, weight_format, weights_identity
from policies.kosmos2.model import Kosmos2Policy
from policies.kosmos2_clip.config import CLIP_REVISION, ClipBackboneConfig
from policies.kosmos2_clip.model import Kosmos2ClipPolicy
from policies.normalisation import ActionNormalisation
from tests.policies.tiny_kosmos import tiny_kosmos2_clip_config, tiny_kosmos2_config, write_tiny_clip


@pytest.fixture(autouse=True)
def _own_hash_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MVLA_CACHE_DIR", str(tmp_path / "mvla-cache"))


@pytest.fixture(scope="module")
def clip_src(tmp_path_factory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("clip"))


def _pytorch_only(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    torch.save(load_file(str(dst / "model.safetensors")), dst / "pytorch_model.bin")
    (dst / "model.safetensors").unlink()
    return dst


def _features(model: CLIPModel) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.no_grad():
        return model.get_image_features(
            pixel_values=torch.randn(1, 3, 32, 32), return_dict=True
        ).pooler_output


def test_the_clip_revision_is_pinned() -> None:
    assert ClipBackboneConfig().revision == CLIP_REVISION and len(CLIP_REVISION) == 40


def test_pytorch_weights_load_with_weights_only_and_say_so(clip_src: Path, tmp_path: Path) -> None:
    folder = _pytorch_only(clip_src, tmp_path / "clip-bin")
    assert (
        weight_format(str(folder), None) == "pytorch" and weight_format(str(clip_src), None) == "safetensors"
    )
    cfg = load_hf_config(str(folder), None, "clip", "clip")
    loaded = load_weights(CLIPModel, str(folder), None, cfg, "clip")
    reference_cfg = load_hf_config(str(clip_src), None, "clip", "clip")
    reference = load_weights(CLIPModel, str(clip_src), None, reference_cfg, "clip")
    # same weights (layout differs)
    assert torch.allclose(_features(loaded.model), _features(reference.model), atol=1e-6)
    assert "torch.load(weights_only=True)" in weights_identity(str(folder), None, loaded.weights_format)
    assert "(safetensors)" in weights_identity(str(clip_src), None, reference.weights_format)


class _Payload:
    """Unpickling this would run code: weights_only must refuse it."""

    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_a_pickle_that_would_run_code_is_refused(clip_src: Path, tmp_path: Path, monkeypatch) -> None:
    folder = _pytorch_only(clip_src, tmp_path / "clip-evil")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    torch.save({**state, "extra": _Payload()}, folder / "pytorch_model.bin")
    monkeypatch.chdir(tmp_path)
    cfg = load_hf_config(str(folder), None, "clip", "clip")
    with pytest.raises(PolicyLoadError, match="weights_only") as err:
        load_weights(CLIPModel, str(folder), None, cfg, "clip.source 'x'")
    assert "\n" not in str(err.value) and not (tmp_path / "pwned-by-pickle").exists()


def test_kosmos2_pytorch_weights_load_safely_too(tmp_path: Path) -> None:
    config = tiny_kosmos2_config(tmp_path)
    source = Path(config.backbone.source)
    shutil.copytree(source, tmp_path / "bin")
    torch.save(load_file(str(tmp_path / "bin" / "model.safetensors")), tmp_path / "bin" / "pytorch_model.bin")
    (tmp_path / "bin" / "model.safetensors").unlink()
    torch.manual_seed(0)
    a = Kosmos2Policy(config).backbone.state_dict()
    config.backbone.source = str(tmp_path / "bin")
    b = Kosmos2Policy(config)
    assert "weights_only" in b.backbone_identity()["backbone"]
    assert all(torch.equal(a[k], v) for k, v in b.backbone.state_dict().items() if "lora" not in k)


def _fake_hub(root: Path, src: Path, repo_id: str, commit: str, main: str, pytorch: bool = False) -> Path:
    """`src` laid out as the hub cache holds a download of `repo_id` at `commit` (files are links to
    blobs named by their sha256); refs/main points elsewhere, so only a pinned revision finds it."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for sub in (snapshot, repo / "blobs", repo / "refs"):
        sub.mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(main)
    files = {f.name: f.read_bytes() for f in src.iterdir()}
    if pytorch:
        files["pytorch_model.bin"] = (_pytorch_only(src, root / "tmp-bin") / "pytorch_model.bin").read_bytes()
        del files["model.safetensors"]
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        (snapshot / name).symlink_to(Path("..") / ".." / "blobs" / blob)
    return snapshot


@pytest.mark.parametrize("pytorch", [False, True])
def test_a_pinned_revision_loads_from_the_hub_cache_offline(clip_src, tmp_path, monkeypatch, pytorch) -> None:
    import huggingface_hub.constants

    commit = "c" * 40
    _fake_hub(tmp_path / "hub", clip_src, "acme/tiny-clip", commit, main="d" * 40, pytorch=pytorch)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert huggingface_hub.constants.HF_HUB_OFFLINE  # tests/conftest.py: nothing is downloaded
    cfg = load_hf_config("acme/tiny-clip", commit, "clip", "clip")
    loaded = load_weights(CLIPModel, "acme/tiny-clip", commit, cfg, "clip")
    reference_cfg = load_hf_config(str(clip_src), None, "clip", "clip")
    reference = load_weights(CLIPModel, str(clip_src), None, reference_cfg, "clip")
    assert torch.allclose(_features(loaded.model), _features(reference.model), atol=1e-6)
    identity = weights_identity("acme/tiny-clip", commit, loaded.weights_format)
    assert f"commit {commit}" in identity
    assert ("weights_only" in identity) == pytorch
    # The main branch points at a commit that is not in the cache: unpinned, it cannot load.
    with pytest.raises(PolicyLoadError):
        load_hf_config("acme/tiny-clip", None, "clip", "clip")


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_identity_covers_every_byte_of_the_weights(tmp_path: Path) -> None:
    """A changed tensor value at a place a sampled fingerprint (16 x 64 KiB of a file, what loading
    checked before) never reads, in a file of the same size and header, changes the identity."""
    from safetensors.torch import save_file

    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    save_file({"w": torch.zeros(1 << 20)}, str(weights))  # 4 MiB
    (folder / "config.json").write_text("{}")
    before = backbone_identity(str(folder), None)
    size = weights.stat().st_size
    sampled = [range(size * i // 16, size * i // 16 + (1 << 16)) for i in range(16)]
    offset = next(o for o in range(size // 16 + (1 << 16) + 8, size) if not any(o in r for r in sampled))
    _flip(weights, offset)
    assert weights.stat().st_size == size
    assert backbone_identity(str(folder), None) != before


@pytest.mark.parametrize("name", ["tokenizer_config.json", "preprocessor_config.json", "tokenizer.json"])
def test_identity_covers_tokenizer_and_preprocessor_files(clip_src: Path, tmp_path: Path, name: str) -> None:
    folder = Path(shutil.copytree(clip_src, tmp_path / "clip"))
    before = backbone_identity(str(folder), None)
    path = folder / name
    if name.endswith(".json"):
        data = json.loads(path.read_text())
        data["mvla_test_edit"] = 1
        path.write_text(json.dumps(data))
    assert backbone_identity(str(folder), None) != before


def test_full_hashes_are_cached_by_size_and_mtime(clip_src: Path, tmp_path: Path, monkeypatch) -> None:
    folder = Path(shutil.copytree(clip_src, tmp_path / "clip"))
    first = backbone_identity(str(folder), None)
    import policies.fingerprint as fp

    reads = []
    real_open = Path.open

    def counting_open(self, *args, **kwargs):
        if self.parent == folder:
            reads.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    assert fp.backbone_identity(str(folder), None) == first and reads == []  # all from the cache
    _flip(folder / "model.safetensors", 200)  # size unchanged, mtime changed: hashed again
    reads.clear()
    assert fp.backbone_identity(str(folder), None) != first and reads == ["model.safetensors"]


def test_a_checkpoint_refuses_a_clip_whose_tokenizer_changed(tmp_path: Path) -> None:
    config = tiny_kosmos2_clip_config(tmp_path)
    config.clip.source = str(write_tiny_clip(tmp_path / "own-clip"))
    torch.manual_seed(0)
    ckpt = save_checkpoint(Kosmos2ClipPolicy(config), tmp_path / "ckpt", ActionNormalisation.identity(3))
    load_checkpoint(ckpt)
    tokenizer = tmp_path / "own-clip" / "tokenizer_config.json"
    data = json.loads(tokenizer.read_text())
    data["model_max_length"] = 50
    tokenizer.write_text(json.dumps(data))
    with pytest.raises(PolicyLoadError, match="trained on clip weights"):
        load_checkpoint(ckpt)
