"""The whole booth on one machine: style server, local mail inbox and kiosk, started together."""
