"""Series in and out of the workspace: sources (one module per provider), file formats, series
checks, calendars, symbols, the store. Also holds the bundled sample (eurpln_ecb.csv.gz)."""
