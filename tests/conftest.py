from __future__ import annotations

import os

# Nothing in the tests may reach the network or ask for consent.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
