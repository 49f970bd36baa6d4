"""Every word the visitor sees, in English and German."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "touch_to_start": {"en": "Touch to become a painting", "de": "Berühren und zum Gemälde werden"},
    "pose": {"en": "Pose inside the frame", "de": "Posieren Sie im Rahmen"},
    "take_photo": {"en": "Take photo", "de": "Foto aufnehmen"},
    "back": {"en": "Back", "de": "Zurück"},
    "retake": {"en": "Retake", "de": "Nochmal"},
    "keep": {"en": "Keep", "de": "Behalten"},
    "choose_style": {"en": "Choose your painting style", "de": "Wählen Sie Ihren Malstil"},
    "instant": {"en": "Instant (about {s:.0f} s)", "de": "Sofort (etwa {s:.0f} s)"},
    "masterpiece": {"en": "Masterpiece (about {m:.0f} min)", "de": "Meisterwerk (etwa {m:.0f} Min.)"},
    "email_title": {"en": "Where shall we send it?", "de": "Wohin dürfen wir es senden?"},
    "consent": {
        "en": "I agree that my photo and address are used to paint and e-mail my portrait and are erased "
        "after {h:g} hours.",
        "de": "Ich bin einverstanden, dass Foto und Adresse zum Malen und Versenden genutzt und nach "
        "{h:g} Stunden gelöscht werden.",
    },
    "wall_consent": {
        "en": "Also show my painted portrait on the event's screen (without name or address) until it is erased.",
        "de": "Mein gemaltes Porträt darf auch auf dem Bildschirm der Veranstaltung gezeigt werden (ohne Name "
        "und Adresse), bis es gelöscht wird.",
    },
    "send": {"en": "Paint and send", "de": "Malen und senden"},
    "bad_email": {"en": "Please check the address.", "de": "Bitte prüfen Sie die Adresse."},
    "need_consent": {"en": "Please tick the box to continue.", "de": "Bitte setzen Sie das Häkchen."},
    "painting": {"en": "Painting your portrait…", "de": "Ihr Porträt wird gemalt…"},
    "queued": {"en": "You are number {n} in line", "de": "Sie sind Nummer {n} in der Reihe"},
    "can_leave": {"en": "You can leave: it will arrive by e-mail.", "de": "Sie können gehen: es kommt per E-Mail."},
    "done": {"en": "Here is your painting!", "de": "Hier ist Ihr Gemälde!"},
    "sent_to": {"en": "Sent to {email}", "de": "Gesendet an {email}"},
    "saved": {"en": "Your portrait is safe with us", "de": "Ihr Porträt ist bei uns sicher"},
    "offline": {
        "en": "The painter is busy right now. Your portrait will be painted and e-mailed to {email} soon.",
        "de": "Der Maler ist gerade beschäftigt. Ihr Porträt wird bald gemalt und an {email} gesendet.",
    },
    "job_failed": {
        "en": "Sorry, this painting did not work out. Try again with the same photo and style, or start over.",
        "de": "Dieses Gemälde ist leider nicht gelungen. Versuchen Sie es mit demselben Foto und Stil noch einmal "
        "oder beginnen Sie neu.",
    },
    "refused": {
        "en": "The painter could not take this request. Please check the address and try again.",
        "de": "Der Maler konnte diesen Auftrag nicht annehmen. Bitte prüfen Sie die Adresse und versuchen Sie es "
        "noch einmal.",
    },
    "try_again": {"en": "Try again", "de": "Nochmal versuchen"},
    "start_over": {"en": "Start over", "de": "Neu beginnen"},
    "finish": {"en": "Finish", "de": "Fertig"},
    "camera_missing": {
        "en": "The camera is not available. We keep trying to reconnect…",
        "de": "Die Kamera ist nicht verfügbar. Wir versuchen es weiter…",
    },
    "pin": {"en": "Operator PIN", "de": "Betreiber-PIN"},
    "pin_wait": {
        "en": "Wrong PIN. Please wait {s} s before the next try.",
        "de": "Falsche PIN. Bitte {s} s bis zum nächsten Versuch warten.",
    },
    "pin_wrong": {"en": "Wrong PIN. Please try again.", "de": "Falsche PIN. Bitte noch einmal."},
    "arrives_anyway": {
        "en": "We cannot show the progress right now. Your painting will still arrive by e-mail.",
        "de": "Wir können den Fortschritt gerade nicht zeigen. Ihr Gemälde kommt trotzdem per E-Mail.",
    },
    "no_styles": {
        "en": "No styles yet: the booth keeps asking the painter.",
        "de": "Noch keine Malstile: die Fotobox fragt weiter beim Maler nach.",
    },
    "unavailable": {
        "en": "The booth is temporarily unavailable. Please come back in a moment.",
        "de": "Die Fotobox ist vorübergehend nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.",
    },
    "reconnecting": {
        "en": "Connection to the painter lost: reconnecting…",
        "de": "Verbindung zum Maler unterbrochen: wird wiederhergestellt…",
    },
    "server_offline": {
        "en": "The painter is offline right now. Your portrait will be painted and e-mailed as soon as it is back.",
        "de": "Der Maler ist gerade nicht erreichbar. Ihr Porträt wird gemalt und gesendet, sobald er zurück ist.",
    },
    "no_picture": {"en": "No camera picture", "de": "Kein Kamerabild"},
    "almost_done": {"en": "Almost done", "de": "Gleich fertig"},
    "remaining_s": {"en": "About {s} s left", "de": "Noch etwa {s} s"},
    "remaining_min": {"en": "About {m} min left", "de": "Noch etwa {m} Min."},
    "scan_qr": {"en": "Scan to download it on your phone", "de": "Scannen und aufs Handy laden"},
    "print": {"en": "Print", "de": "Drucken"},
    "printed": {"en": "Printed", "de": "Gedruckt"},
    "printing": {
        "en": "Printing… please collect it at the printer.",
        "de": "Wird gedruckt… bitte am Drucker abholen.",
    },
    "print_failed": {
        "en": "Printing did not work. Please ask the staff.",
        "de": "Das Drucken hat nicht geklappt. Bitte wenden Sie sich an das Personal.",
    },
    "demo_note": {
        "en": "Demo mode: no webcam found, showing a demo video instead.",
        "de": "Demo-Modus: keine Webcam gefunden, stattdessen läuft ein Demo-Video.",
    },
    "photo_failed": {
        "en": "The photo did not work. Please try again.",
        "de": "Das Foto hat nicht geklappt. Bitte noch einmal.",
    },
}


def tr(key: str, language: str, **values) -> str:
    text = TEXTS[key].get(language) or TEXTS[key]["en"]
    return text.format(**values) if values else text


def translated(text: str, language: str) -> str:
    """A text we wrote in English (e.g. the demo note the launcher puts in the kiosk's settings) in
    ``language``; any other text (an operator's own note) as it is."""
    for texts in TEXTS.values():
        if texts["en"] == text and "{" not in text:
            return texts.get(language) or text
    return text


# The operator panel, in German: its headings, buttons, labels (the kiosk settings' descriptions) and messages,
# by their English text (``panel_text``). The panel speaks the kiosk's language like the visitor's screens.
PANEL_DE: dict[str, str] = {
    "Operator": "Betrieb",
    "Server": "Server",
    "Camera": "Kamera",
    "Visitors": "Besucher",
    "Certificate": "Zertifikat",
    "API key": "API-Schlüssel",
    "New PIN": "Neue PIN",
    "Test e-mail to": "Test-E-Mail an",
    "Trust this server": "Diesem Server vertrauen",
    "Show": "Zeigen",
    "Hide": "Verbergen",
    "space": "Leertaste",
    "Test camera": "Kamera testen",
    "Send test e-mail": "Test-E-Mail senden",
    "Retry outbox": "Ausgang erneut senden",
    "Save": "Speichern",
    "Close": "Schließen",
    "Leave kiosk": "Kiosk beenden",
    "Tap again to leave": "Zum Beenden nochmal tippen",
    "Tap again within {s} s to close the kiosk.": "Zum Schließen des Kiosks innerhalb von {s} s nochmal tippen.",
    "Instant": "Sofort",
    "Masterpiece": "Meisterwerk",
    "Outbox: {n} waiting": "Ausgang: {n} wartend",
    "Outbox: {n} waiting (not sending: see the connection note above)": (
        "Ausgang: {n} wartend (wird nicht gesendet: siehe Verbindungshinweis oben)"
    ),
    "Outbox: not sent ({why})": "Ausgang: nicht gesendet ({why})",
    "own painting": "eigenes Gemälde",
    "no reason given": "kein Grund genannt",
    "Checking the server's certificate…": "Das Zertifikat des Servers wird geprüft…",
    "Server: {url}": "Server: {url}",
    "Server: {url} (certificate pinned: {fingerprint})": "Server: {url} (Zertifikat festgelegt: {fingerprint})",
    "REFUSING TO SEND to {url}: {why}": "SENDEN VERWEIGERT an {url}: {why}",
    "Not saved: {why}": "Nicht gespeichert: {why}",
    "Not saved: a new PIN is 4 to 8 digits, and not a published default.": (
        "Nicht gespeichert: Eine neue PIN hat 4 bis 8 Ziffern und ist keine veröffentlichte Voreinstellung."
    ),
    "Camera {source!r}: not found": "Kamera {source!r}: nicht gefunden",
    "Camera {source!r}: opens but gives no picture": "Kamera {source!r}: öffnet, liefert aber kein Bild",
    "Camera {source!r}: works, {width}x{height}": "Kamera {source!r}: funktioniert, {width}x{height}",
    "Camera {source!r}: test failed ({why})": "Kamera {source!r}: Test fehlgeschlagen ({why})",
    "No styles loaded: check the server URL and key.": ("Keine Stile geladen: Server-Adresse und Schlüssel prüfen."),
    "That is not a valid e-mail address.": "Das ist keine gültige E-Mail-Adresse.",
    "Test job {id} sent; the mail is on its way.": "Testauftrag {id} gesendet; die E-Mail ist unterwegs.",
    "Test failed: {why}": "Test fehlgeschlagen: {why}",
    "Saved.": "Gespeichert.",
    "SHA-256 of the server's certificate (https)": "SHA-256 des Server-Zertifikats (https)",
    "4-8 digits; empty: keep the PIN": "4-8 Ziffern; leer: PIN bleibt",
    "Not saved": "Nicht gespeichert",
    "Refused by the server": "Vom Server abgelehnt",
    "Styles (tick to show; select one and move it up or down)": (
        "Stile (anhaken zum Zeigen; einen auswählen und nach oben oder unten schieben)"
    ),
    "Change the PIN: this PIN was made on first start (it is in the kiosk's log and kiosk.json). Enter a new PIN "
    "below and save.": "Bitte die PIN ändern: Diese PIN wurde beim ersten Start erzeugt (sie steht im Protokoll des "
    "Kiosks und in kiosk.json). Unten eine neue PIN eingeben und speichern.",
    "Change the PIN: this PIN is a published default. Enter a new PIN below and save.": (
        "Bitte die PIN ändern: Diese PIN ist eine veröffentlichte Voreinstellung. Unten eine neue PIN eingeben und "
        "speichern."
    ),
    # the kiosk settings' descriptions (booth_client/config.py), the labels of the panel's form
    "The style server.": "Der Stil-Server.",
    "Reload the styles and their waits this often; after a failure sooner, with backoff.": (
        "So oft Stile und Wartezeiten neu laden; nach einem Fehler früher, mit wachsenden Pausen."
    ),
    "A progress stream silent this long is dropped and reopened (server keep-alive: 15 s).": (
        "Ein so lange stummer Fortschrittsstrom wird getrennt und neu geöffnet (Server-Keep-alive: 15 s)."
    ),
    "Webcam index, stream URL or video file.": "Webcam-Nummer, Stream-URL oder Videodatei.",
    "Requested capture width.": "Gewünschte Aufnahmebreite.",
    "Requested capture height.": "Gewünschte Aufnahmehöhe.",
    "Show the live preview and the review like a mirror.": "Live-Bild und Vorschau spiegelverkehrt zeigen.",
    "Mirror the portrait that is painted and mailed (text reversed).": (
        "Das gemalte und versandte Porträt spiegeln (Schrift seitenverkehrt)."
    ),
    "Language of the screens and the e-mail.": "Sprache der Bildschirme und der E-Mail.",
    "Pre-selected: instant or masterpiece.": "Vorausgewählt: Sofort oder Meisterwerk.",
    "Back to the attract screen after this much quiet.": "Nach so langer Ruhe zurück zum Startbildschirm.",
    "Seconds of countdown before the photo.": "Sekunden Countdown vor dem Foto.",
    "The visitor's e-mail address leaves the result screen after this (or on Finish).": (
        "Die E-Mail-Adresse verschwindet danach vom Ergebnisbildschirm (oder bei Fertig)."
    ),
    "Show a QR code on the result screen to download the painting (the e-mail stays the default).": (
        "Einen QR-Code zum Herunterladen des Gemäldes auf dem Ergebnisbildschirm zeigen (die E-Mail bleibt "
        "der Standard)."
    ),
    "Visitors pose while the server is offline (painted and mailed later). Off: Start waits for it.": (
        "Besucher posieren auch ohne Server (gemalt und gesendet wird später). Aus: Start wartet auf ihn."
    ),
    "Shown on screen, e.g. 'demo video instead of a webcam'.": (
        "Auf dem Bildschirm gezeigt, z. B. 'Demo-Video statt Webcam'."
    ),
    # printing (booth_client/config.py's print_* settings, print_widgets.PrintPanel, printing.CONDITIONS)
    "Printing": "Drucken",
    "Printer": "Drucker",
    "Offer Print on the result screen (through CUPS).": "Drucken auf dem Ergebnisbildschirm anbieten (über CUPS).",
    "CUPS server (host:port); empty: this computer's.": "CUPS-Server (Host:Port); leer: der dieses Rechners.",
    "Paper size.": "Papierformat.",
    "Page layout.": "Seitenaufbau.",
    "The portrait alone": "Nur das Porträt",
    "The portrait on a page frame": "Das Porträt auf einem Seitenrahmen",
    "Page frame for prints: a PNG laid over the page, whose see-through part shows the portrait "
    "(which carries the event frame already); empty: none.": (
        "Seitenrahmen für Drucke: ein PNG über der Seite, dessen durchsichtiger Teil das Porträt zeigt (das den "
        "Veranstaltungsrahmen schon trägt); leer: keiner."
    ),
    "White margin around a portrait printed without a frame.": "Weißer Rand um ein Porträt ohne Rahmen.",
    "Prints one visitor may make.": "Drucke pro Besucher.",
    "none (no printing)": "keiner (kein Druck)",
    "not found": "nicht gefunden",
    "Print jobs that failed": "Fehlgeschlagene Druckaufträge",
    "waiting": "wartet",
    "CUPS does not know this printer.": "CUPS kennt diesen Drucker nicht.",
    "CUPS cannot be asked": "CUPS ist nicht erreichbar",
    "idle": "bereit",
    "printing": "druckt",
    "stopped": "angehalten",
    "out of paper": "Papier leer",
    "paper jam": "Papierstau",
    "out of ink or toner": "Tinte oder Toner leer",
    "cover open": "Klappe offen",
    "offline": "nicht verbunden",
    # the event frame (booth_client/config.py's frame_* settings, frame_widgets.FramePanel, frame_desk)
    "Event frame": "Veranstaltungsrahmen",
    "Event frame: a PNG with a see-through middle, laid over every portrait that is mailed, downloaded or "
    "printed; empty: none.": (
        "Veranstaltungsrahmen: ein PNG mit durchsichtiger Mitte, über jedes Porträt gelegt, das gemailt, "
        "heruntergeladen oder gedruckt wird; leer: keiner."
    ),
    "Or a line the booth writes below the portrait, e.g. the event's name.": (
        "Oder eine Zeile, die die Booth unter das Porträt schreibt, z. B. der Name der Veranstaltung."
    ),
    "And a logo (PNG or JPEG) placed beside that line.": "Und ein Logo (PNG oder JPEG) neben dieser Zeile.",
    "Colour of the border and the band around the portrait (#rrggbb).": (
        "Farbe des Rands und des Bands um das Porträt (#rrggbb)."
    ),
    "Colour of the line (#rrggbb).": "Farbe der Zeile (#rrggbb).",
    "Preview the frame": "Rahmen ansehen",
    "No frame to show": "Kein Rahmen zu zeigen",
    "Sending the event frame to the server…": "Der Veranstaltungsrahmen geht an den Server…",
    "The server lays this frame over every portrait from now on.": (
        "Der Server legt diesen Rahmen ab jetzt über jedes Porträt."
    ),
    "The event frame is removed: portraits leave as painted.": (
        "Der Veranstaltungsrahmen ist entfernt: Porträts gehen so hinaus, wie sie gemalt sind."
    ),
    "The event frame was not sent: {why} The server keeps the frame it had.": (
        "Der Veranstaltungsrahmen wurde nicht gesendet: {why} Der Server behält den bisherigen Rahmen."
    ),
    "No preview: {why}": "Keine Vorschau: {why}",
}


def panel_text(text: str, language: str) -> str:
    """An operator panel text in ``language`` (English and anything not listed: as it is)."""
    return PANEL_DE.get(text, text) if language == "de" else text
