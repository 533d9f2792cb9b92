"""Market data: loading OHLCV bars from files and generating the synthetic example data."""
