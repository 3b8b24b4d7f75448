# SPDX-License-Identifier: EUPL-1.2
"""Benchmarks of voicebot (run as scripts or modules from the repository root)."""
