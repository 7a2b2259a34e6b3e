"""Switch every library we use to offline mode before it is imported.

Import this module before transformers, peft or huggingface_hub: they read these variables at
import time, and a run must never try the network (users run air-gapped).
"""

import os
import warnings

_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
}


def go_offline() -> None:
    for key, value in _OFFLINE.items():
        os.environ.setdefault(key, value)
    # HF_HUB_OFFLINE must win even if the user's shell says otherwise.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


go_offline()
# Deprecation chatter from transformers/peft would print through the live display.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
