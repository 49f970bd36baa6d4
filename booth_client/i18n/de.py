"""The kiosk's German texts, by the ids of ``en.py``, and the operator panel's setting labels and choice names
by ``<setting>.description`` and ``<setting>.choice.<value>`` (their English is in ``booth_client/config.py``)."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    # the visitor's screens
    "touch_to_start": "Berühren und zum Gemälde werden",
    "pose": "Posieren Sie im Rahmen",
    "take_photo": "Foto aufnehmen",
    "back": "Zurück",
    "retake": "Nochmal",
    "keep": "Behalten",
    "choose_style": "Wählen Sie Ihren Malstil",
    "instant": "Sofort (etwa {s:.0f} s)",
    "masterpiece": "Meisterwerk (etwa {m:.0f} Min.)",
    "email_title": "Wohin dürfen wir es senden?",
    "consent": (
        "Ich bin einverstanden, dass Foto und Adresse zum Malen und "
        "Versenden genutzt und nach {h:g} Stunden gelöscht werden."
    ),
    "wall_consent": (
        "Mein gemaltes Porträt darf auch auf dem Bildschirm der Veranstaltung "
        "gezeigt werden (ohne Name und Adresse), bis es gelöscht wird."
    ),
    "send": "Malen und senden",
    "bad_email": "Bitte prüfen Sie die Adresse.",
    "need_consent": "Bitte setzen Sie das Häkchen.",
    "painting": "Ihr Porträt wird gemalt…",
    "queued": "Sie sind Nummer {n} in der Reihe",
    "can_leave": "Sie können gehen: es kommt per E-Mail.",
    "done": "Hier ist Ihr Gemälde!",
    "sent_to": "Gesendet an {email}",
    "saved": "Ihr Porträt ist bei uns sicher",
    "offline": "Der Maler ist gerade beschäftigt. Ihr Porträt wird bald gemalt und an {email} gesendet.",
    "job_failed": (
        "Dieses Gemälde ist leider nicht gelungen. Versuchen Sie es mit "
        "demselben Foto und Stil noch einmal oder beginnen Sie neu."
    ),
    "refused": (
        "Der Maler konnte diesen Auftrag nicht annehmen. Bitte prüfen Sie die Adresse und versuchen Sie es noch einmal."
    ),
    "try_again": "Nochmal versuchen",
    "start_over": "Neu beginnen",
    "finish": "Fertig",
    "camera_missing": "Die Kamera ist nicht verfügbar. Wir versuchen es weiter…",
    "pin": "Betreiber-PIN",
    "pin_wait": "Falsche PIN. Bitte {s} s bis zum nächsten Versuch warten.",
    "pin_wrong": "Falsche PIN. Bitte noch einmal.",
    "arrives_anyway": "Wir können den Fortschritt gerade nicht zeigen. Ihr Gemälde kommt trotzdem per E-Mail.",
    "no_styles": "Noch keine Malstile: die Fotobox fragt weiter beim Maler nach.",
    "unavailable": "Die Fotobox ist vorübergehend nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.",
    "reconnecting": "Verbindung zum Maler unterbrochen: wird wiederhergestellt…",
    "server_offline": (
        "Der Maler ist gerade nicht erreichbar. Ihr Porträt wird gemalt und gesendet, sobald er zurück ist."
    ),
    "no_picture": "Kein Kamerabild",
    "almost_done": "Gleich fertig",
    "remaining_s": "Noch etwa {s} s",
    "remaining_min": "Noch etwa {m} Min.",
    "scan_qr": "Scannen und aufs Handy laden",
    "print": "Drucken",
    "printed": "Gedruckt",
    "printing": "Wird gedruckt… bitte am Drucker abholen.",
    "print_failed": "Das Drucken hat nicht geklappt. Bitte wenden Sie sich an das Personal.",
    "demo_note": "Demo-Modus: keine Webcam gefunden, stattdessen läuft ein Demo-Video.",
    "photo_failed": "Das Foto hat nicht geklappt. Bitte noch einmal.",
    # the operator panel: its headings and the groups of the settings form
    "panel.operator": "Betrieb",
    "panel.styles": "Stile (anhaken zum Zeigen; einen auswählen und nach oben oder unten schieben)",
    "group.server": "Server",
    "group.camera": "Kamera",
    "group.visitors": "Besucher",
    "group.printing": "Drucken",
    "group.frame": "Veranstaltungsrahmen",
    # its hand-made rows, buttons and keys
    "panel.certificate": "Zertifikat",
    "panel.fingerprint_hint": "SHA-256 des Server-Zertifikats (https)",
    "panel.trust": "Diesem Server vertrauen",
    "panel.api_key": "API-Schlüssel",
    "panel.show": "Zeigen",
    "panel.hide": "Verbergen",
    "panel.new_pin": "Neue PIN",
    "panel.new_pin_hint": "4-8 Ziffern; leer: PIN bleibt",
    "panel.test_address": "Test-E-Mail an",
    "panel.space": "Leertaste",
    "panel.test_camera": "Kamera testen",
    "panel.test_email": "Test-E-Mail senden",
    "panel.retry_outbox": "Ausgang erneut senden",
    "panel.save": "Speichern",
    "panel.close": "Schließen",
    "panel.leave": "Kiosk beenden",
    "panel.leave_again": "Zum Beenden nochmal tippen",
    "panel.leave_confirm": "Zum Schließen des Kiosks innerhalb von {s} s nochmal tippen.",
    # its messages
    "panel.pin_generated": "Bitte die PIN ändern: Diese PIN wurde beim ersten Start erzeugt (sie steht im "
    "Protokoll des Kiosks und in kiosk.json). Unten eine neue PIN eingeben und speichern.",
    "panel.pin_published": "Bitte die PIN ändern: Diese PIN ist eine veröffentlichte Voreinstellung. Unten eine "
    "neue PIN eingeben und speichern.",
    "panel.saved": "Gespeichert.",
    "panel.not_saved": "Nicht gespeichert: {why}",
    "panel.bad_pin": "Nicht gespeichert: Eine neue PIN hat 4 bis 8 Ziffern und ist keine veröffentlichte "
    "Voreinstellung.",
    "panel.checking": "Das Zertifikat des Servers wird geprüft…",
    "panel.server": "Server: {url}",
    "panel.server_pinned": "Server: {url} (Zertifikat festgelegt: {fingerprint})",
    "panel.untrusted": "{problem}",
    "panel.refusing": "SENDEN VERWEIGERT an {url}: {why}",
    "panel.outbox": "Ausgang: {n} wartend",
    "panel.outbox_held": "Ausgang: {n} wartend (wird nicht gesendet: siehe Verbindungshinweis oben)",
    "panel.outbox_failed": "Ausgang: nicht gesendet ({why})",
    "panel.refused": "Vom Server abgelehnt: {n}",
    "panel.own_painting": "eigenes Gemälde",
    "panel.no_reason": "kein Grund genannt",
    "panel.camera_missing": "Kamera {source!r}: nicht gefunden",
    "panel.camera_blank": "Kamera {source!r}: öffnet, liefert aber kein Bild",
    "panel.camera_works": "Kamera {source!r}: funktioniert, {width}x{height}",
    "panel.camera_failed": "Kamera {source!r}: Test fehlgeschlagen ({why})",
    "panel.no_styles": "Keine Stile geladen: Server-Adresse und Schlüssel prüfen.",
    "panel.bad_address": "Das ist keine gültige E-Mail-Adresse.",
    "panel.test_sent": "Testauftrag {id} gesendet; die E-Mail ist unterwegs.",
    "panel.test_failed": "Test fehlgeschlagen: {why}",
    # the printer
    "panel.printer": "Drucker",
    "panel.no_printer": "keiner (kein Druck)",
    "panel.printer_missing": "{name} (nicht gefunden)",
    "panel.printer_unknown": "CUPS kennt diesen Drucker nicht.",
    "panel.cups_down": "CUPS ist nicht erreichbar: {error}",
    "panel.failed_prints": "Fehlgeschlagene Druckaufträge: {n}",
    "panel.job_waiting": "wartet",
    "printer.idle": "bereit",
    "printer.printing": "druckt",
    "printer.stopped": "angehalten",
    "printer.out_of_paper": "Papier leer",
    "printer.paper_jam": "Papierstau",
    "printer.out_of_ink": "Tinte oder Toner leer",
    "printer.cover_open": "Klappe offen",
    "printer.offline": "nicht verbunden",
    # the event frame
    "frame.preview": "Rahmen ansehen",
    "frame.none": "Kein Rahmen zu zeigen",
    "frame.sending": "Der Veranstaltungsrahmen geht an den Server…",
    "frame.set": "Der Server legt diesen Rahmen ab jetzt über jedes Porträt.",
    "frame.removed": "Der Veranstaltungsrahmen ist entfernt: Porträts gehen so hinaus, wie sie gemalt sind.",
    "frame.refused": "Der Veranstaltungsrahmen wurde nicht gesendet: {why} Der Server behält den bisherigen Rahmen.",
    "frame.no_preview": "Keine Vorschau: {why}",
    # the settings form's labels: KioskConfig's descriptions
    "server_url.description": "Der Stil-Server.",
    "catalogue_refresh_s.description": "So oft Stile und Wartezeiten neu laden; nach einem Fehler früher, mit "
    "wachsenden Pausen.",
    "events_read_timeout_s.description": "Ein so lange stummer Fortschrittsstrom wird getrennt und neu geöffnet "
    "(Server-Keep-alive: 15 s).",
    "camera.description": "Webcam-Nummer, Stream-URL oder Videodatei.",
    "camera_width.description": "Gewünschte Aufnahmebreite.",
    "camera_height.description": "Gewünschte Aufnahmehöhe.",
    "mirror_preview.description": "Live-Bild und Vorschau spiegelverkehrt zeigen.",
    "mirror_capture.description": "Das gemalte und versandte Porträt spiegeln (Schrift seitenverkehrt).",
    "language.description": "Sprache der Bildschirme und der E-Mail.",
    "default_method.description": "Vorausgewählt: Sofort oder Meisterwerk.",
    "default_method.choice.fast": "Sofort",
    "default_method.choice.gatys": "Meisterwerk",
    "idle_timeout_s.description": "Nach so langer Ruhe zurück zum Startbildschirm.",
    "countdown_s.description": "Sekunden Countdown vor dem Foto.",
    "address_shown_s.description": "Die E-Mail-Adresse verschwindet danach vom Ergebnisbildschirm (oder bei Fertig).",
    "show_qr.description": "Einen QR-Code zum Herunterladen des Gemäldes auf dem Ergebnisbildschirm zeigen (die "
    "E-Mail bleibt der Standard).",
    "offline_outbox.description": "Besucher posieren auch ohne Server (gemalt und gesendet wird später). Aus: "
    "Start wartet auf ihn.",
    "demo_note.description": "Auf dem Bildschirm gezeigt, z. B. 'Demo-Video statt Webcam'.",
    "print_enabled.description": "Drucken auf dem Ergebnisbildschirm anbieten (über CUPS).",
    "print_server.description": "CUPS-Server (Host:Port); leer: der dieses Rechners.",
    "print_paper.description": "Papierformat.",
    "print_layout.description": "Seitenaufbau.",
    "print_layout.choice.portrait": "Nur das Porträt",
    "print_layout.choice.frame": "Das Porträt auf einem Seitenrahmen",
    "print_frame.description": "Seitenrahmen für Drucke: ein PNG über der Seite, dessen durchsichtiger Teil das "
    "Porträt zeigt (das den Veranstaltungsrahmen schon trägt); leer: keiner.",
    "print_margin_mm.description": "Weißer Rand um ein Porträt ohne Rahmen.",
    "print_copies_max.description": "Drucke pro Besucher.",
    "frame_image.description": "Veranstaltungsrahmen: ein PNG mit durchsichtiger Mitte, über jedes Porträt "
    "gelegt, das gemailt, heruntergeladen oder gedruckt wird; leer: keiner.",
    "frame_text.description": "Oder eine Zeile, die die Booth unter das Porträt schreibt, z. B. der Name der "
    "Veranstaltung.",
    "frame_logo.description": "Und ein Logo (PNG oder JPEG) neben dieser Zeile.",
    "frame_colour.description": "Farbe des Rands und des Bands um das Porträt (#rrggbb).",
    "frame_text_colour.description": "Farbe der Zeile (#rrggbb).",
}
