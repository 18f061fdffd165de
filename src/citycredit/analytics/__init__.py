"""Analytics: the de-identified Parquet export that the DuckDB and Spark engines read."""

from citycredit.analytics.export import export_parquet

__all__ = ["export_parquet"]
