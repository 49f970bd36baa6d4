"""The wire protocol between booth kiosks and the style server. Both sides import only this."""
