// ChronicleSQLite: the SQLite EventStore (in progress).
