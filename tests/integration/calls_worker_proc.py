"""A worker process for the crash test: records a scripted call into a store, then waits to be killed.

Usage: python calls_worker_proc.py STORE_URL WORKER_ID CALL_ID TURNS
"""

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import ScriptedCall  # noqa: E402

from voicebot.calls.runtime import CallServices  # noqa: E402
from voicebot.calls.settings import CallsSettings  # noqa: E402


async def main(url: str, worker: str, call_id: str, turns: int) -> None:
    svc = CallServices.build(CallsSettings(store_url=url, worker_id=worker, heartbeat_s=0.2), Path(tempfile.mkdtemp()))
    await svc.start()
    call = ScriptedCall(svc.bus, call_id, worker=worker)
    await call.start()
    for i in range(turns):
        await call.say(f"Question numéro {i} sur les transports scolaires ?", f"Réponse {i}.", sources=["Transports"])
    while (svc.store.get_call(call_id) or {"turns": 0})["turns"] < turns:
        await asyncio.sleep(0.02)
    await call.pub("transcript_partial", text="et pour la cantine")  # a turn in progress, never finished
    print("RECORDED", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
