"""laporbot: citizen reports and service-standard deadlines for Dinas Sosial offices."""

__version__ = "0.1.0"
