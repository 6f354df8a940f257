"""Pipeline config: YAML files read with ``yaml.safe_load`` into strict, typed models.

:mod:`.database` models database sources, :mod:`.files` file sources, :mod:`.loader` reads and
validates the files (and words every error); :mod:`.base` is what they share. The names other
modules use are re-exported here.
"""

from __future__ import annotations

from tributary.config.base import (
    LAKE_URLS,
    NAME_PATTERN,
    NAME_RULE,
    PROJECT_ROOT,
    first_repeat,
    parse_duration,
)
from tributary.config.database import (
    CdcConfig,
    CheckConfig,
    Compression,
    Deletes,
    Mode,
    NullWatermark,
    PipelineConfig,
    Schedule,
    SchemaDrift,
    TableConfig,
)
from tributary.config.files import (
    Contract,
    ContractColumn,
    ExtraColumns,
    FilesPipelineConfig,
    FileTableConfig,
    FormatOptions,
    LandingFormat,
    OnViolation,
)
from tributary.config.loader import PIPELINES_DIR_ENV, config_files, load_all, load_config, pipelines_dir

__all__ = [
    "LAKE_URLS",
    "NAME_PATTERN",
    "NAME_RULE",
    "PIPELINES_DIR_ENV",
    "PROJECT_ROOT",
    "CdcConfig",
    "CheckConfig",
    "Compression",
    "Contract",
    "ContractColumn",
    "Deletes",
    "ExtraColumns",
    "FileTableConfig",
    "FilesPipelineConfig",
    "FormatOptions",
    "LandingFormat",
    "Mode",
    "NullWatermark",
    "OnViolation",
    "PipelineConfig",
    "Schedule",
    "SchemaDrift",
    "TableConfig",
    "config_files",
    "first_repeat",
    "load_all",
    "load_config",
    "parse_duration",
    "pipelines_dir",
]
