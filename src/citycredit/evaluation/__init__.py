"""公共信用综合评价: declarative models, one compiled query per dialect, three engines.

Models are data (`evaluation/models/*.yaml`, `model.load_models`); the compiler turns a model
into one parameterised SQL query per dialect; `engines` runs it on the platform database, on
DuckDB over the de-identified Parquet export, or on Spark; `reference` scores the same facts in
pure Python; `scoring` turns indicator values into results with reasons and caps.
"""

from citycredit.evaluation.engines import (
    evaluate_all_db,
    evaluate_db,
    evaluate_duckdb,
    evaluate_spark,
)
from citycredit.evaluation.model import EvaluationModel, ModelSet, load_models
from citycredit.evaluation.result import Cap, IndicatorValue, Reason, SubjectResult

__all__ = [
    "Cap",
    "EvaluationModel",
    "IndicatorValue",
    "ModelSet",
    "Reason",
    "SubjectResult",
    "evaluate_all_db",
    "evaluate_db",
    "evaluate_duckdb",
    "evaluate_spark",
    "load_models",
]
