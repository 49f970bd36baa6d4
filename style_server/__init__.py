"""Portrait Booth style server: the style engine (``engine``), the HTTP job service (``service``) and the
``style-server`` CLI (``cli``)."""
