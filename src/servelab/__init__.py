"""servelab: how an ML prediction service behaves under load on different web servers.

Start a server (``servers.launch``), load it (``load.run_burst``), run the seminar's
study (``study.run_study``) and build its report (``report.build_report``).
"""

from __future__ import annotations

__version__ = "0.1.0"
