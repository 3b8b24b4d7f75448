"""No traffic leaves the machine: every library telemetry or model-hub call is switched off at start-up.

Sovereignty means a worker talks only to what its settings name (SIP trunk, LLM server, database,
Redis, webhook). Libraries that phone home by default are told not to, before they are imported:
Hugging Face hub (faster-whisper can download models), onnxruntime (Silero VAD and Smart Turn run on
it and it has a telemetry channel), and the generic opt-outs other libraries honour. The egress test
(tests/security/test_attacks_egress.py) runs `voicebot serve` and a call under strace and asserts that
no connection or datagram goes to a non-loopback address.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never resolve a model name over the network
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",  # the cross-library opt-out (consoledonottrack.com)
    "ANONYMIZED_TELEMETRY": "False",
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime's 1DS telemetry (DNS for mobile.events.data.microsoft.com)
    "PIPECAT_DISABLE_TELEMETRY": "1",
    "OTEL_SDK_DISABLED": "true",  # pipecat's optional OpenTelemetry tracing
}


def enforce_offline(environ: dict[str, str] | None = None) -> None:
    """Set the opt-out variables (an operator's explicit value wins) and stop onnxruntime's telemetry.

    Call first thing in the process, before pipecat, faster-whisper or onnxruntime are imported;
    child processes (llama.cpp, Piper) inherit the environment.
    """
    env = os.environ if environ is None else environ
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    disable_onnxruntime_telemetry()


def disable_onnxruntime_telemetry() -> bool:
    """onnxruntime.disable_telemetry_events(), before any InferenceSession is made; False if absent."""
    try:
        import onnxruntime
    except ImportError:
        return False
    try:
        onnxruntime.disable_telemetry_events()
    except Exception as exc:  # an older or stripped build: nothing to disable
        log.debug("onnxruntime telemetry switch unavailable: %s", exc)
        return False
    return True
