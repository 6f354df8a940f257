"""Airflow operators: thin adapters from connection ids and the run context to the core."""

from __future__ import annotations

from tributary.operators.cdc_advance import CdcAdvanceOperator
from tributary.operators.cdc_plan import CdcPlanOperator
from tributary.operators.commit import CommitPartitionOperator
from tributary.operators.commit_files import CommitFilesOperator
from tributary.operators.detect_deletes import DetectDeletesOperator
from tributary.operators.extract import ExtractTableOperator
from tributary.operators.extract_files import ExtractFilesOperator
from tributary.operators.verify import VerifyPartitionOperator
from tributary.operators.verify_files import VerifyFilesOperator

__all__ = [
    "CdcAdvanceOperator",
    "CdcPlanOperator",
    "CommitFilesOperator",
    "CommitPartitionOperator",
    "DetectDeletesOperator",
    "ExtractFilesOperator",
    "ExtractTableOperator",
    "VerifyFilesOperator",
    "VerifyPartitionOperator",
]
