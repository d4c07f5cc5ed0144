"""Open a seqcast report in headless Chromium and save a screenshot (a manual check, not a test).

    apt-get install -y chromium     # Debian's package
    python scripts/screenshot_report.py runs/<id>/report.html -o report.png [--height 3000]

The browser runs with networking features off and a throw-away profile; the report must
render completely from the file alone.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="the HTML report")
    parser.add_argument("-o", "--out", type=Path, default=Path("report.png"), help="screenshot PNG")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--browser", default=None, help="browser binary [default: chromium on PATH]")
    args = parser.parse_args()

    browser = args.browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium found; install it (Debian: apt-get install -y chromium) or pass --browser",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="seqcast-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               f"--screenshot={args.out.resolve()}", f"--window-size={args.width},{args.height}",
               args.report.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not args.out.exists():
        print(done.stderr[-2000:], file=sys.stderr)
        return 1
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
