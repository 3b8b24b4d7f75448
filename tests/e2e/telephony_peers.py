"""Real SIP peers for telephony tests: sipp, baresip, kamailio, each started on 127.0.0.1 with free
ports and a temporary directory, and stopped by the test (see /work/shared/telephony-test-peers.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.harness import TEST_CLIPS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIPP_DIR = HERE / "sipp"
SIPP_PCAPS = Path("/usr/share/sip-tester")
SPEECH_DIR = TEST_CLIPS  # the French clips committed under tests/data/speech-fr/
KAMAILIO_TEMPLATE = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def free_udp_port(even: bool = False) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not even or port % 2 == 0:
            return port


def free_port_range(size: int = 40) -> tuple[int, int]:
    """A block of UDP ports (for RTP) that is free right now."""
    for _ in range(50):
        base = free_udp_port(even=True)
        if base + size > 65000:
            continue
        socks = []
        try:
            for p in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base, base + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def sipp_workdir(tmp_path: Path) -> Path:
    """A directory holding pcap/ (the stock sipp media) for play_pcap_audio."""
    pcap = tmp_path / "pcap"
    pcap.mkdir(exist_ok=True)
    for f in SIPP_PCAPS.glob("*.pcap"):
        shutil.copy(f, pcap / f.name)
    return tmp_path


@dataclass
class SippResult:
    rc: int
    output: str


async def run_sipp(args: list[str], cwd: Path, timeout: float = 60) -> SippResult:
    """Run sipp to completion (it exits 0 when every call succeeded)."""
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, "-nostdin", "-trace_err", "-error_file", str(cwd / f"sipp_err_{os.getpid()}.log"),
        cwd=str(cwd), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return SippResult(-9, out.decode(errors="replace"))
    text = out.decode(errors="replace")
    err = cwd / f"sipp_err_{os.getpid()}.log"
    if err.exists():
        text += "\n--- sipp errors ---\n" + err.read_text(errors="replace")[-3000:]
    return SippResult(proc.returncode or 0, text[-6000:])


def sipp_args(scenario: str, local_port: int, target: str, *extra: str) -> list[str]:
    path = SIPP_DIR / f"{scenario}.xml"
    source = ["-sf", str(path)] if path.exists() else ["-sn", scenario]
    return [*source, "-i", "127.0.0.1", "-p", str(local_port), "-m", "1", *extra, target]


# -- audio helpers ------------------------------------------------------------------------------
def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() == 2:
            data = data.reshape(-1, 2)[:, 0]
        return data.astype(np.int16), w.getframerate()


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def speech_clip_8k(tmp_path: Path, name: str = "001.wav", pad_s: float = 0.0) -> Path:
    """A French clip of tests/data/speech-fr, resampled to 8 kHz mono with soxr, optionally padded."""
    import soxr

    pcm, rate = read_wav(SPEECH_DIR / name)
    out = soxr.resample(pcm.astype(np.float32), rate, 8000).clip(-32768, 32767).astype(np.int16)
    out = np.concatenate([out, np.zeros(int(8000 * pad_s), dtype=np.int16)])
    path = tmp_path / f"clip8k-{name}"
    write_wav(path, out, 8000)
    return path


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Max normalised cross-correlation of b against a over lags 0..max_lag (b delayed)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    best = 0.0
    for lag in range(0, max_lag + 1, 1):
        n = min(len(a), len(b) - lag)
        if n <= 800:
            break
        x, y = a[:n], b[lag:lag + n]
        denom = np.sqrt((x * x).sum() * (y * y).sum())
        if denom > 0:
            best = max(best, float((x * y).sum() / denom))
    return best


def windowed_correlation(source: np.ndarray, heard: np.ndarray, rate: int, max_lag_s: float = 1.5) -> float:
    """Median over 1 s speech windows of the source of the best correlation found in ``heard``
    within ``max_lag_s`` (tolerates the small gaps two independent 20 ms clocks introduce)."""
    scores = []
    win = rate
    for start in range(0, len(source) - win, win):
        x = source[start:start + win].astype(np.float64)
        if rms(x) < 500:
            continue
        best = 0.0
        for lag in range(0, int(max_lag_s * rate), 4):
            y = heard[start + lag:start + lag + win].astype(np.float64)
            if len(y) < win:
                break
            denom = np.sqrt((x * x).sum() * (y * y).sum())
            if denom > 0:
                best = max(best, float((x * y).sum() / denom))
        scores.append(best)
    return float(np.median(scores)) if scores else 0.0


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


# -- baresip ------------------------------------------------------------------------------------
def baresip_home(tmp_path: Path, wav: Path, sip_port: int, rtp: tuple[int, int], name: str = "caller") -> Path:
    home = tmp_path / f"baresip-{name}"
    conf = home / ".baresip"
    rec = home / "rec"
    conf.mkdir(parents=True, exist_ok=True)
    rec.mkdir(exist_ok=True)
    (conf / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
net_interface 127.0.0.1
call_local_timeout 120
call_max_calls 4
audio_player alsa,null
audio_source aufile,{wav}
audio_alert alsa,null
audio_channels 1
audio_srate 8000
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
snd_path {rec}
rtp_ports {rtp[0]}-{rtp[1]}
""")
    (conf / "accounts").write_text(f"<sip:{name}@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1,PCMA/8000/1\n")
    (conf / "contacts").write_text("")
    return home


async def run_baresip(home: Path, commands: list[tuple[float, str]], quit_after_s: int,
                      timeout: float = 60) -> str:
    """Run baresip with timed stdin commands (e.g. (0, "/dial sip:bot@..")); returns its output."""
    env = dict(os.environ, HOME=str(home))
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(home / ".baresip"), "-t", str(quit_after_s), env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdin is not None

    async def feed() -> None:
        for delay, cmd in commands:
            await asyncio.sleep(delay)
            proc.stdin.write((cmd + "\n").encode())
            await proc.stdin.drain()

    feeder = asyncio.create_task(feed())
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    finally:
        feeder.cancel()
    return out.decode(errors="replace")


def baresip_recordings(home: Path) -> tuple[Path | None, Path | None]:
    """(sent, received) WAVs written by the sndfile module."""
    rec = home / "rec"
    enc = sorted(rec.glob("dump-*-enc.wav"))
    dec = sorted(rec.glob("dump-*-dec.wav"))
    return (enc[-1] if enc else None, dec[-1] if dec else None)


# -- kamailio -----------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def kamailio(tmp_path: Path, port: int, backends: list[int], before_relay: str = ""):
    """kamailio dispatcher on 127.0.0.1:port in front of the given bot ports."""
    run = tmp_path / "kamailio"
    run.mkdir(exist_ok=True)
    (run / "dispatcher.list").write_text("".join(f"1 sip:127.0.0.1:{p}\n" for p in backends))
    cfg = KAMAILIO_TEMPLATE.read_text()
    cfg = cfg.replace("listen=udp:127.0.0.1:5060", f"listen=udp:127.0.0.1:{port}")
    cfg = cfg.replace("/etc/kamailio/dispatcher.list", str(run / "dispatcher.list"))
    cfg = cfg.replace('mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"', f'mpath="{KAMAILIO_MODULES}/"')
    if before_relay:  # e.g. a header to add to dispatched requests
        cfg = cfg.replace('  t_on_failure("DISPATCH_FAIL");', f'  {before_relay}\n  t_on_failure("DISPATCH_FAIL");', 1)
    (run / "kamailio.cfg").write_text(cfg)
    check = await asyncio.create_subprocess_exec("kamailio", "-c", "-f", str(run / "kamailio.cfg"),
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await check.communicate()
    assert check.returncode == 0, out.decode(errors="replace")[-2000:]
    log = open(run / "kamailio.log", "wb")
    proc = await asyncio.create_subprocess_exec(
        "kamailio", "-f", str(run / "kamailio.cfg"), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(run),
        "-P", str(run / "kamailio.pid"), stdout=log, stderr=log)
    try:
        await asyncio.sleep(1.0)
        assert proc.returncode is None, (run / "kamailio.log").read_text(errors="replace")[-2000:]
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


@contextlib.asynccontextmanager
async def bot_worker(port: int, calls_file: Path, mode: str = "echo"):
    """A separate bot process (tests/e2e/telephony_bots.py) serving SIP on ``port``."""
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"voicebot-worker-{port}.log"
    log = open(log_path, "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "telephony_bots.py"), "--port", str(port), "--mode", mode,
        "--calls-file", str(calls_file),
        stdout=asyncio.subprocess.PIPE, stderr=log, cwd=str(ROOT))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"ready"), line
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
