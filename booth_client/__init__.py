"""The Portrait Booth kiosk (PySide6). It knows the server only through the ``shared`` protocol."""
