"""loraprof's engine: one process runs one RunSpec and streams measured events on fd 3."""

__version__ = "0.1.0"
