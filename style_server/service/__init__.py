"""The HTTP job service on top of the style engine (FastAPI). It knows nothing of Qt."""
