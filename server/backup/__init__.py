"""`yorisoi backup` and `yorisoi restore`: a portable, streamed, optionally encrypted logical dump.

See `fileformat` for the file, `crypto` for the encryption, `ops` for what backup and restore do.
"""

from server.backup.crypto import BackupError
from server.backup.ops import BackupReport, RestoreReport, backup, restore

__all__ = ["BackupError", "BackupReport", "RestoreReport", "backup", "restore"]
