"""The sync protocol between the field app and the server (see PROTOCOL.md). No web framework here."""
