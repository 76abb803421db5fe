"""The shared retrieval model: architecture as specified, persistence, card checks."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from emomv_desktop.engine.emotions import EMOTION_LABELS, Emotion
from emomv_desktop.engine.errors import ModelFileError
from emomv_desktop.engine.model import (
    ModelConfig,
    ProjectionHead,
    RetrievalModel,
    card_path_for,
    check_card,
    load_model,
    save_model,
)
from emomv_desktop.engine.protocol import FEATURE_PROTOCOL


def test_emotion_parse_maps_every_dataset_spelling():
    spellings = {
        "exciting": Emotion.EXCITING, "Exciting": Emotion.EXCITING,
        "fear": Emotion.FEARFUL, "Fear": Emotion.FEARFUL, "fearful": Emotion.FEARFUL,
        "tense": Emotion.TENSE, "Tense": Emotion.TENSE,
        "sad": Emotion.SAD, "Sad": Emotion.SAD,
        "relax": Emotion.RELAXING, "Relax": Emotion.RELAXING, "relaxing": Emotion.RELAXING,
        "3": Emotion.SAD, 4: Emotion.RELAXING,
    }
    for text, emotion in spellings.items():
        assert Emotion.parse(text) is emotion, text
    with pytest.raises(ValueError, match="unknown emotion label 'neutral'"):
        Emotion.parse("neutral")
    # each label names the emotion of its index (the datasets' integer column; the heads' output order)
    assert [int(Emotion.parse(label)) for label in EMOTION_LABELS] == list(range(len(Emotion)))


def test_projection_head_matches_the_written_recipe():
    torch.manual_seed(0)
    head = ProjectionHead(64, dropout=0.5, layer_norm=True).eval()
    x = torch.randn(7, 64)
    p = head.fc1(x)
    h = head.fc2(F.gelu(p, approximate="tanh"))
    h = F.gelu(h, approximate="tanh") + p
    h = F.layer_norm(h, (64,), head.norm.weight, head.norm.bias)
    expected = F.normalize(F.gelu(h, approximate="tanh"), dim=-1)
    torch.testing.assert_close(head(x), expected)
    assert torch.allclose(head(x).norm(dim=-1), torch.ones(7))


def test_model_shapes_scalers_and_emotion_heads():
    torch.manual_seed(0)
    model = RetrievalModel().eval()
    video = torch.rand(5, 2304) * 3 + 1
    music = torch.randn(5, 128) * 2 - 4
    model.fit_scalers(video, music)
    torch.testing.assert_close(model.video_scaler(video).mean(0), torch.zeros(2304), atol=1e-5, rtol=0)
    v, m, score = model(video, music)
    assert v.embedding.shape == (5, 64) and m.embedding.shape == (5, 64)
    assert v.emotion_logits.shape == (5, 5) and m.emotion_logits.shape == (5, 5)
    torch.testing.assert_close(score, F.cosine_similarity(v.embedding, m.embedding))
    # emotion head reads GELU of the input layer, before the projection head
    z = model.video_in(model.video_scaler(video))
    torch.testing.assert_close(v.emotion_logits, model.video_emotion(F.gelu(z, approximate="tanh")))
    single = RetrievalModel(ModelConfig(multitask=False))
    assert single.embed_music(music).emotion_logits is None
    assert not any("emotion" in k for k in single.state_dict())


def test_the_spread_floor_lifts_only_near_constant_dimensions_and_travels_in_the_buffers(tmp_path):
    """A floor of 0.1 x the median spread: dimensions above it, and constant ones (spread 1), are untouched; a
    near-constant one divides by the floor, so a tiny absolute change stays a tiny standardised one. The floor is
    in the saved buffers: the loaded model standardises the same without knowing it."""
    g = torch.Generator().manual_seed(0)
    video = torch.randn(50, 2304, generator=g) * torch.linspace(0.5, 2.0, 2304)
    video[:, 0] = 5.0  # constant
    video[:, 1] = 1e-6 * torch.randn(50, generator=g)  # near-constant
    plain, floored = RetrievalModel().eval(), RetrievalModel().eval()
    plain.fit_scalers(video, None)
    floored.fit_scalers(video, None, video_floor=0.1)
    median = plain.video_scaler.std[1:].median()
    assert plain.video_scaler.std[0] == 1 == floored.video_scaler.std[0]
    assert plain.video_scaler.std[1] < 1e-5 and floored.video_scaler.std[1] == pytest.approx(0.1 * median)
    torch.testing.assert_close(floored.video_scaler.std[2:], plain.video_scaler.std[2:])
    torch.testing.assert_close(floored.video_scaler.mean, plain.video_scaler.mean)
    nudge = torch.zeros(1, 2304)
    nudge[0, 1] = 1e-4  # an absolute change of 1e-4 in the near-constant dimension
    moved = lambda m: (m.video_scaler(video[:1] + nudge) - m.video_scaler(video[:1])).abs().max()  # noqa: E731
    assert moved(plain) > 10 and moved(floored) < 0.01
    assert torch.equal(floored.music_scaler.std, torch.ones(128))  # music: not fitted here, not floored
    save_model(tmp_path / "m.pt", floored)
    loaded, _ = load_model(tmp_path / "m.pt")
    torch.testing.assert_close(loaded.video_scaler(video), floored.video_scaler(video))


def test_blended_score_vectors_and_calibrated_probabilities(tmp_path):
    torch.manual_seed(1)
    model = RetrievalModel(ModelConfig(agreement_weight=3.0, video_temperature=2.0, music_temperature=0.5)).eval()
    v, m = model.embed_video(torch.rand(4, 2304)), model.embed_music(torch.randn(6, 128))
    pv, pm = torch.softmax(v.emotion_logits, 1), torch.softmax(m.emotion_logits, 1)
    expected = v.embedding @ m.embedding.T + 3.0 * pv @ pm.T
    torch.testing.assert_close(model.score_matrix(v, m), expected)
    torch.testing.assert_close(model.score_matrix(v, m, 3.0), expected)  # explicit lambda: the same formula
    torch.testing.assert_close(model.score_matrix(v, m, 0.0), v.embedding @ m.embedding.T)
    assert model.score_dim == 69 == model.score_vector(v).shape[1]
    torch.testing.assert_close(model.emotion_probabilities(v, "video"), torch.softmax(v.emotion_logits / 2.0, 1))
    torch.testing.assert_close(model.emotion_probabilities(m, "music"), torch.softmax(m.emotion_logits / 0.5, 1))
    # the paper's cosine: lambda 0 or a single-task model -> the embedding itself
    for plain in (RetrievalModel(ModelConfig()), RetrievalModel(ModelConfig(multitask=False, agreement_weight=3.0))):
        plain.eval()
        out = plain.embed_video(torch.rand(2, 2304))
        assert plain.score_dim == 64 and torch.equal(plain.score_vector(out), out.embedding)
    # the new fields survive save/load
    save_model(tmp_path / "m.pt", model)
    loaded, _ = load_model(tmp_path / "m.pt")
    assert loaded.config == model.config
    torch.testing.assert_close(loaded.score_matrix(loaded.embed_video(torch.ones(1, 2304)), loaded.embed_music(torch.ones(1, 128))),
                               model.score_matrix(model.embed_video(torch.ones(1, 2304)), model.embed_music(torch.ones(1, 128))))


def test_save_load_roundtrip_and_card(tmp_path):
    torch.manual_seed(1)
    model = RetrievalModel().eval()
    model.fit_scalers(torch.rand(20, 2304), torch.rand(20, 128))
    path = tmp_path / "m.pt"
    card = save_model(path, model, {"trained_on": "unit test"})
    assert card_path_for(path).name == "m.card.json"
    on_disk = json.loads(card_path_for(path).read_text())
    assert on_disk["trained_on"] == "unit test" and len(on_disk["weights_sha256"]) == 64
    loaded, loaded_card = load_model(path)
    assert not loaded.training and loaded_card == on_disk
    x = torch.rand(3, 2304)
    torch.testing.assert_close(loaded.embed_video(x).embedding, model.embed_video(x).embedding)


def test_load_refuses_tampered_weights_and_foreign_protocol(tmp_path):
    model = RetrievalModel()
    path = tmp_path / "m.pt"
    save_model(path, model)
    card_file = card_path_for(path)
    card = json.loads(card_file.read_text())

    foreign = json.loads(json.dumps(card))
    foreign["feature_protocol"]["music"]["backbone"] = "openl3"
    assert check_card(foreign) and not check_card(card)
    card_file.write_text(json.dumps(foreign))
    with pytest.raises(ModelFileError, match="music backbone"):
        load_model(path)
    load_model(path, protocol=None)  # a caller may opt out of the protocol check explicitly

    card_file.write_text(json.dumps(card))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(path)
    card_file.unlink()
    with pytest.raises(ModelFileError, match="card"):
        load_model(path)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "absent.pt")


def test_the_default_model_takes_the_feature_protocols_dims():
    model = RetrievalModel().eval()
    video, music = FEATURE_PROTOCOL["video"]["dim"], FEATURE_PROTOCOL["music"]["dim"]
    assert (model.video_in.in_features, model.music_in.in_features) == (video, music)
    pair = model.embed_video(torch.rand(2, video)), model.embed_music(torch.rand(2, music))
    assert pair[0].embedding.shape == pair[1].embedding.shape == (2, model.config.embed_dim)
