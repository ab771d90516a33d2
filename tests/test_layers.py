"""The layers hold: settings, the grid, the store and the reports import no torch."""

import subprocess
import sys


def test_settings_grid_store_and_reports_import_no_torch():
    modules = [
        "noisybox.config",
        "noisybox.benchmark.grid",
        "noisybox.benchmark.store",
        "noisybox.benchmark.runner",
        "noisybox.report.tables",
        "noisybox.report.plots",
        "noisybox.compare",
        "noisybox.derive",
    ]
    code = f"import sys; import {', '.join(modules)}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stdout + done.stderr
