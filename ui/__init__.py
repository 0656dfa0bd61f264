"""longbert's Gradio app, one module a part: config (the environment), models (loaded once), controls (the demo's
settings), demo (the Demo tab's handlers), dashboard (the Evaluation tab's data), runs (evaluation runs and Stop),
views (HTML and charts of one prediction) and layout (the page). app.py serves it."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
