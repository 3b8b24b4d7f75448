# SPDX-License-Identifier: EUPL-1.2
"""The embedded Whisper weights (CTranslate2 ``model.bin``) read without CTranslate2, for a GPU with PyTorch only.

Why: the lent GPU machine has PyTorch and transformers but no CTranslate2. This reads the CTranslate2 binary
format (``ctranslate2/specs/model_spec.py``: version, spec name, revision, variables, aliases), maps the
variables onto transformers' ``WhisperForConditionalGeneration`` names (splitting CTranslate2's fused
q/k/v projections), and packs them as int8 with a per-row scale (as voicebot runs on CPU) so the model
travels to the lent machine in parts of at most ``--part-mib``.

    python -m benchmarks.gpu.ct2_whisper DATA_DIR/models/whisper-base OUT_DIR [--part-mib 60]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import struct
from pathlib import Path

import numpy as np

DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # CTranslate2 DataType order (bf16 unused)


def _string(f) -> str:
    (n,) = struct.unpack("H", f.read(2))
    return f.read(n)[:-1].decode("utf-8")


def read_ct2(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """Spec name and variables (aliases resolved) of a CTranslate2 model.bin."""
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        (version,) = struct.unpack("I", f.read(4))
        if version < 5:
            raise ValueError(f"CTranslate2 binary version {version} not supported")
        spec = _string(f)
        struct.unpack("I", f.read(4))  # revision
        (count,) = struct.unpack("I", f.read(4))
        for _ in range(count):
            name = _string(f)
            (rank,) = struct.unpack("B", f.read(1))
            shape = struct.unpack(f"{rank}I", f.read(4 * rank)) if rank else ()
            (type_id,) = struct.unpack("B", f.read(1))
            (nbytes,) = struct.unpack("I", f.read(4))
            dtype = DTYPES[type_id]
            if dtype is None:
                raise ValueError(f"{name}: bfloat16 variables not supported")
            out[name] = np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape)
        (n_alias,) = struct.unpack("I", f.read(4))
        for _ in range(n_alias):
            alias, target = _string(f), _string(f)
            out[alias] = out[target]
    return spec, out


def _deq(v: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    w = v[f"{prefix}/weight"]
    if w.dtype == np.int8:  # CTranslate2 int8: per-row scale
        return w.astype(np.float32) / v[f"{prefix}/weight_scale"].reshape(-1, 1)
    return w.astype(np.float32)


def _linear(v, src: str, dst: str, sd: dict) -> None:
    sd[f"{dst}.weight"] = _deq(v, src)
    if f"{src}/bias" in v:
        sd[f"{dst}.bias"] = v[f"{src}/bias"].astype(np.float32)


def _norm(v, src: str, dst: str, sd: dict) -> None:
    sd[f"{dst}.weight"] = v[f"{src}/gamma"].astype(np.float32)
    sd[f"{dst}.bias"] = v[f"{src}/beta"].astype(np.float32)


def _split_qkv(v, src: str, dst: str, sd: dict, parts: tuple[str, ...]) -> None:
    w = _deq(v, src)
    b = v.get(f"{src}/bias")
    n = w.shape[0] // len(parts)
    for i, p in enumerate(parts):
        sd[f"{dst}.{p}.weight"] = w[i * n:(i + 1) * n]
        if b is not None and p != "k_proj":  # Whisper's key projections have no bias
            sd[f"{dst}.{p}.bias"] = b[i * n:(i + 1) * n].astype(np.float32)


def _layers(v, side: str) -> int:
    return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})


def to_transformers(v: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """transformers WhisperForConditionalGeneration state dict (float32) and the config fields it needs."""
    sd: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        sd[f"model.encoder.{conv}.weight"] = _deq(v, f"encoder/{conv}")
        sd[f"model.encoder.{conv}.bias"] = v[f"encoder/{conv}/bias"].astype(np.float32)
    sd["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"].astype(np.float32)
    _norm(v, "encoder/layer_norm", "model.encoder.layer_norm", sd)
    n_enc, n_dec = _layers(v, "encoder"), _layers(v, "decoder")
    for i in range(n_enc):
        s, d = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        _split_qkv(v, f"{s}/self_attention/linear_0", f"{d}.self_attn", sd, ("q_proj", "k_proj", "v_proj"))
        _linear(v, f"{s}/self_attention/linear_1", f"{d}.self_attn.out_proj", sd)
        _norm(v, f"{s}/self_attention/layer_norm", f"{d}.self_attn_layer_norm", sd)
        _linear(v, f"{s}/ffn/linear_0", f"{d}.fc1", sd)
        _linear(v, f"{s}/ffn/linear_1", f"{d}.fc2", sd)
        _norm(v, f"{s}/ffn/layer_norm", f"{d}.final_layer_norm", sd)
    emb = _deq(v, "decoder/embeddings")
    sd["model.decoder.embed_tokens.weight"] = emb
    sd["proj_out.weight"] = emb
    sd["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"].astype(np.float32)
    _norm(v, "decoder/layer_norm", "model.decoder.layer_norm", sd)
    for i in range(n_dec):
        s, d = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        _split_qkv(v, f"{s}/self_attention/linear_0", f"{d}.self_attn", sd, ("q_proj", "k_proj", "v_proj"))
        _linear(v, f"{s}/self_attention/linear_1", f"{d}.self_attn.out_proj", sd)
        _norm(v, f"{s}/self_attention/layer_norm", f"{d}.self_attn_layer_norm", sd)
        _linear(v, f"{s}/attention/linear_0", f"{d}.encoder_attn.q_proj", sd)
        _split_qkv(v, f"{s}/attention/linear_1", f"{d}.encoder_attn", sd, ("k_proj", "v_proj"))
        _linear(v, f"{s}/attention/linear_2", f"{d}.encoder_attn.out_proj", sd)
        _norm(v, f"{s}/attention/layer_norm", f"{d}.encoder_attn_layer_norm", sd)
        _linear(v, f"{s}/ffn/linear_0", f"{d}.fc1", sd)
        _linear(v, f"{s}/ffn/linear_1", f"{d}.fc2", sd)
        _norm(v, f"{s}/ffn/layer_norm", f"{d}.final_layer_norm", sd)
    d_model = emb.shape[1]
    cfg = {"d_model": d_model, "encoder_layers": n_enc, "decoder_layers": n_dec,
           "encoder_attention_heads": int(v.get("encoder/num_heads", np.array(d_model // 64))),
           "decoder_attention_heads": int(v.get("decoder/num_heads", np.array(d_model // 64))),
           "encoder_ffn_dim": sd["model.encoder.layers.0.fc1.weight"].shape[0],
           "decoder_ffn_dim": sd["model.decoder.layers.0.fc1.weight"].shape[0],
           "vocab_size": emb.shape[0], "num_mel_bins": sd["model.encoder.conv1.weight"].shape[1],
           "max_source_positions": sd["model.encoder.embed_positions.weight"].shape[0],
           "max_target_positions": sd["model.decoder.embed_positions.weight"].shape[0]}
    return sd, cfg


def pack_int8(sd: dict[str, np.ndarray]) -> bytes:
    """npz bytes: 2-D weights as int8 + per-row float32 scale (``NAME.__scale``), the rest float16."""
    arrays = {}
    for k, a in sd.items():
        if k == "proj_out.weight":
            continue  # tied to the token embeddings
        if a.ndim == 2 and "embed_positions" not in k:
            scale = np.maximum(np.abs(a).max(axis=1), 1e-8) / 127.0
            arrays[k] = np.round(a / scale[:, None]).astype(np.int8)
            arrays[k + ".__scale"] = scale.astype(np.float32)
        else:
            arrays[k] = a.astype(np.float16)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def unpack_int8(data: bytes) -> dict[str, np.ndarray]:
    npz = np.load(io.BytesIO(data))
    out = {}
    for k in npz.files:
        if k.endswith(".__scale"):
            continue
        a = npz[k]
        out[k] = a.astype(np.float32) * npz[k + ".__scale"][:, None] if a.dtype == np.int8 else a.astype(np.float32)
    out["proj_out.weight"] = out["model.decoder.embed_tokens.weight"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--part-mib", type=int, default=60)
    a = ap.parse_args()
    spec, v = read_ct2(a.model_dir / "model.bin")
    sd, cfg = to_transformers(v)
    blob = pack_int8(sd)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    size = a.part_mib << 20
    parts = []
    for i in range(0, len(blob), size):
        d = a.out_dir / f"part{len(parts) + 1}"
        d.mkdir(exist_ok=True)
        (d / "weights.bin").write_bytes(blob[i:i + size])
        parts.append(f"part{len(parts) + 1}/weights.bin")
    meta = {"spec": spec, "config": cfg, "parts": parts, "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob)}
    (a.out_dir / "part1" / "whisper.json").write_text(json.dumps(meta, indent=1))
    tok = a.model_dir / "tokenizer.json"
    (a.out_dir / "part1" / "tokenizer.json").write_bytes(tok.read_bytes())
    print(json.dumps({k: meta[k] for k in ("spec", "config", "parts", "bytes")}))


if __name__ == "__main__":
    main()
