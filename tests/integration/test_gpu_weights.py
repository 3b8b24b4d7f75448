"""The lent-GPU check's weights: the embedded CTranslate2 Whisper read without CTranslate2, packed in int8."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.gpu.ct2_whisper import pack_int8, read_ct2, to_transformers, unpack_int8
from voicebot.config import load_settings
from voicebot.models import resolve

pytestmark = pytest.mark.models


def test_embedded_whisper_maps_onto_transformers_names_and_survives_int8_packing(tmp_path):
    path = resolve("stt", load_settings(overrides={"server.data_dir": str(tmp_path)})).path
    spec, variables = read_ct2(path / "model.bin")
    assert spec == "WhisperSpec"
    sd, cfg = to_transformers(variables)
    assert (cfg["d_model"], cfg["encoder_layers"], cfg["decoder_layers"], cfg["encoder_attention_heads"]) == \
        (512, 6, 6, 8)  # Whisper base
    q = sd["model.encoder.layers.0.self_attn.q_proj.weight"]
    fused = variables["encoder/layer_0/self_attention/linear_0/weight"]
    assert q.shape == (512, 512) and np.allclose(q, fused[:512].astype(np.float32))
    assert "model.encoder.layers.0.self_attn.k_proj.bias" not in sd  # Whisper keys have no bias
    back = unpack_int8(pack_int8(sd))
    assert set(back) == set(sd)
    w, w8 = sd["model.decoder.layers.5.fc2.weight"], back["model.decoder.layers.5.fc2.weight"]
    assert np.abs(w - w8).max() <= np.abs(w).max(axis=1).max() / 127 + 1e-3  # per-row int8 step
