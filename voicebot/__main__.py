"""`python -m voicebot`: the same command as `voicebot` (see voicebot.cli)."""

import sys

from voicebot.cli import main

sys.exit(main())
