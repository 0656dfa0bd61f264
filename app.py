"""longbert's Gradio app (the Space's entry point): a live demo of chunked classification (one setting, or A beside
B) and a dashboard for choosing settings by comparing them. Run `python app.py`; the parts live in ui/ and the
environment it reads is listed in ui/config.py."""

from __future__ import annotations

import os

from ui.config import limit_malloc_arenas

limit_malloc_arenas()

from ui.demo import preload  # noqa: E402  (after the arenas are limited: the model's memory lands in them)
from ui.layout import LAUNCH, build_app  # noqa: E402

if __name__ == "__main__":
    preload()
    build_app().queue(default_concurrency_limit=2, max_size=64).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
        show_error=False,
        **LAUNCH,
    )
