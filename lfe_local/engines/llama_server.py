"""llama-cpp-python's OpenAI-compatible server, safe on CPUs with AMX.

    python -m lfe_local.engines.llama_server --model models/X.gguf [any llama_cpp.server flag]

The same server as `python -m llama_cpp.server`, with the same flags. The one difference: where
the installed llama.cpp would run its AMX kernels (see `llama_amx_active`), its extra buffer types
are off for every model the server loads, because on such CPUs the first request otherwise kills
the server (ggml-org/llama.cpp#20824: on the 2-core Xeon with AMX that CI ran on, 2026-12-02,
the plain server died on its first chat completion; the in-process engine, with the same switch,
answers on such a CPU). Elsewhere it is the plain server.
"""

from __future__ import annotations

import sys

from .llama_cpp_engine import extra_buffers_off_for_this_process, llama_amx_active


def main() -> None:
    try:
        from llama_cpp.server.__main__ import main as serve
    except ImportError:
        sys.exit("error: llama_cpp server extras missing: scripts/setup dev (or pip install 'llama-cpp-python[server]')")
    if llama_amx_active():
        extra_buffers_off_for_this_process()
        print("lfe-local: llama.cpp extra buffers off (AMX CPU, ggml-org/llama.cpp#20824)", file=sys.stderr)
    serve()


if __name__ == "__main__":
    main()
