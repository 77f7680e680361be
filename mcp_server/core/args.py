"""Tool argument types that several areas share: one `Annotated` type, one description, per meaning.

Imports only pydantic and typing: the tools' modules import it at start-up.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

# -- pages ----------------------------------------------------------------------------------------------------
Cursor = Annotated[str | None, Field(description="From a previous page's next_cursor.")]
Limit100 = Annotated[int, Field(ge=1, le=100, description="Items per page.")]
Limit200 = Annotated[int, Field(ge=1, le=200, description="Items per page.")]
Limit500 = Annotated[int, Field(ge=1, le=500, description="Items per page.")]

# -- data -----------------------------------------------------------------------------------------------------
DataFile = Annotated[
    str, Field(description="CSV, TSV, Parquet, JSON or JSON Lines file inside the allowed roots.")
]
IncludeSamples = Annotated[
    bool, Field(description="Include a few data values in the result; set false to keep data out of it.")
]
Overwrite = Annotated[bool, Field(description="Replace the output file if it exists.")]
Engine = Annotated[
    Literal["pandas", "spark", "auto"],
    Field(
        description="Where it runs: pandas (in this process), spark (the configured Spark master) or auto "
        "(Spark above the configured size when Spark is configured)."
    ),
]
ValidationEngine = Annotated[
    Literal["pandas", "duckdb", "spark", "auto"],
    Field(
        description="Where GX runs: pandas (in this process), duckdb (GX's SQL engine on a DuckDB view of a "
        "Parquet/CSV file: no load into memory), spark (the configured Spark master) or auto (DuckDB, then "
        "Spark, above their configured sizes)."
    ),
]
SuiteRef = Annotated[
    str, Field(description="GX suite name (its latest version) or 'name@N' for version N.", max_length=140)
]

# -- the lake and catalog -------------------------------------------------------------------------------------
Zone = Literal["raw", "processed", "curated"]
DatasetName = Annotated[
    str,
    Field(
        description="Dataset name in the catalog: letters, digits, '.', '_', '-' (no '..').", max_length=128
    ),
]
AllowBreaking = Annotated[
    bool, Field(description="Accept a schema that removes or retypes columns of the previous version.")
]

# -- models ---------------------------------------------------------------------------------------------------
ModelName = Annotated[str, Field(description="Registered model name (letters, digits, '.', '_', '-').")]
ModelVersion = Annotated[str, Field(description="Version number, e.g. '3'.")]
