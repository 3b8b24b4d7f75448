"""Test helpers of the knowledge area: a real PostgreSQL + pgvector server in a temp dir.

Binaries: Debian's PostgreSQL when its pgvector extension is installed (`postgresql-15-pgvector`),
else the PostgreSQL 16 + pgvector build shipped by the PyPI package `pgserver` (Debian bookworm's
archive has no pgvector package). PostgreSQL refuses to run as root, so under root the server runs as
the `postgres` system user through `runuser` (the data dir is chowned to it). That user must reach the
binaries: pgserver's live in the virtualenv, inside the checkout, which CI may clone into a mode-0700
folder; they are then copied once to a root-owned, world-readable folder under the system temp dir.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from voicebot.process import free_port


def _bin_dir() -> Path | None:
    for ver in ("17", "16", "15"):
        debian = Path(f"/usr/lib/postgresql/{ver}/bin")
        if (debian / "pg_ctl").exists() and Path(f"/usr/share/postgresql/{ver}/extension/vector.control").exists():
            return debian
    import importlib.util

    spec = importlib.util.find_spec("pgserver")  # located, not imported (importing it starts nothing we need)
    if spec is None or not spec.submodule_search_locations:
        return None
    bundled = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bundled if (bundled / "pg_ctl").exists() else None


def _reachable_by(user: str, bin_dir: Path) -> Path:
    """``bin_dir``, or a copy of its installation ``user`` can execute (every parent must be traversable).

    Only for pgserver's build (site-packages/pgserver/pginstall): its binaries find their libraries
    through RPATH $ORIGIN/../../../pgserver.libs, so the copy keeps that layout.
    """
    if subprocess.run(["runuser", "-u", user, "--", str(bin_dir / "pg_ctl"), "--version"],
                      capture_output=True, cwd="/").returncode == 0:
        return bin_dir
    install = bin_dir.parent  # .../site-packages/pgserver/pginstall
    site = install.parents[1]
    tag = hashlib.sha256(str(install.resolve()).encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"voicebot-pgserver-{os.geteuid()}-{tag}"
    if target.exists() and (target.stat().st_uid != os.geteuid() or target.stat().st_mode & 0o022):
        raise RuntimeError(f"{target} is not ours (owner or mode): remove it")  # never run someone else's binaries
    if not (target / "pgserver" / "pginstall" / "bin" / "pg_ctl").exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}")
        shutil.copytree(install, partial / "pgserver" / "pginstall", symlinks=True)
        shutil.copytree(site / "pgserver.libs", partial / "pgserver.libs", symlinks=True)
        for folder in (partial, partial / "pgserver"):
            os.chmod(folder, 0o755)
        try:
            os.rename(partial, target)
        except OSError:  # another test process copied it first
            shutil.rmtree(partial, ignore_errors=True)
    return target / "pgserver" / "pginstall" / "bin"



class PostgresServer:
    """initdb + pg_ctl start on 127.0.0.1:<free port>; `dsn` once started; stop() removes everything."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL with pgvector: pip install pgserver, or apt-get install postgresql-15-pgvector")
        self.root = Path(tempfile.mkdtemp(prefix="kb-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.bin_dir = _reachable_by(self.user, bin_dir) if self.user else bin_dir

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def start(self) -> "PostgresServer":
        if self.user:
            shutil.chown(self.root, self.user)
            os.chmod(self.root, 0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "start",
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c shared_buffers=64MB")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not accept connections")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- sample knowledge service ------------------------------------------------------------------------

def build_sample_service(directory: Path, embedder: str = "use"):
    """A KnowledgeService on a fresh SQLite file with the sample Île-de-France base ingested."""
    from voicebot.knowledge.embedding import get_embedder
    from voicebot.knowledge.service import KnowledgeService, open_store
    from voicebot.knowledge.settings import KnowledgeSettings

    ks = KnowledgeSettings(sqlite_path=directory / "knowledge.sqlite3", embedder=embedder)
    service = KnowledgeService(open_store(ks), get_embedder(embedder), ks)
    service.ingest([ks.samples_dir])
    return service


def eval_file() -> Path:
    from voicebot.knowledge.settings import SAMPLES_DIR

    return SAMPLES_DIR.parent / "eval-idf.jsonl"


# -- a minimal PDF writer (tests only: real PDFs for pypdf without a PDF-writing dependency) ---------

def write_pdf(path: Path, lines: list[str], title: str = "") -> None:
    """One-page PDF, Helvetica, WinAnsi encoding (French accents), one text line per entry."""

    def esc(s: str) -> bytes:
        return s.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    content = b"BT /F1 11 Tf 14 TL 50 800 Td " + b" ".join(b"(" + esc(line) + b") '" for line in lines) + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + esc(title) + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
