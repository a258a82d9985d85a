"""CPU/RAM/GPU telemetry (psutil, NVML, Jetson) and cache clearing. No Textual."""
