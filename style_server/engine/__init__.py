"""The style engine: networks, losses, the Gatys optimiser and training. It knows nothing of HTTP."""
