// ChronicleTesting (in progress).
