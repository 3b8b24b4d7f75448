"""Resident memory of one worker on embedded defaults, idle and with N concurrent calls.

Sums the RSS of the `voicebot serve` process and its children (llama.cpp server, TTS workers), samples
it every 0.5 s while N calls run, and reports the increment per concurrent call.
Run: python benchmarks/memory.py [--calls 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from benchmarks.harness import CLIPS, ServerProcess
from voicebot.telephony.caller import Caller


def tree_rss_mb(pid: int) -> float:
    pids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        pids.add(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp)).start()
        try:
            await asyncio.sleep(2)
            idle = tree_rss_mb(srv.proc.pid)
            clips = sorted(CLIPS.glob("0[1-3]*.wav"))
            jobs = [asyncio.create_task(Caller(srv.ws_pcm, [clips[i % len(clips)], clips[(i + 5) % len(clips)]],
                                               answer_timeout_s=90).run()) for i in range(args.calls)]
            peak = idle
            while not all(j.done() for j in jobs):
                peak = max(peak, tree_rss_mb(srv.proc.pid))
                await asyncio.sleep(0.5)
            answered = sum(1 for j in jobs if not j.exception() and j.result().answered)
        finally:
            srv.stop()
    out = {"idle_rss_mb": round(idle, 1), "peak_rss_mb": round(peak, 1), "calls": args.calls, "answered": answered,
           "per_call_mb": round((peak - idle) / args.calls, 1)}
    print(json.dumps(out) if args.json else
          f"idle {out['idle_rss_mb']} MB, peak with {args.calls} calls {out['peak_rss_mb']} MB "
          f"({answered} answered): {out['per_call_mb']} MB per call")


if __name__ == "__main__":
    asyncio.run(main())
