"""Portrait Booth style server: the style engine, its CLI and (later) the HTTP job service."""
