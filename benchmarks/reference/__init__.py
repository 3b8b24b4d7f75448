# SPDX-License-Identifier: EUPL-1.2
"""The stock-pipecat reference pipeline that the latency benchmark compares voicebot with."""
