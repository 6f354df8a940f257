"""Airflow operators: thin adapters from connection ids and the run context to the core."""

from __future__ import annotations

from tributary.operators.commit import CommitPartitionOperator
from tributary.operators.extract import ExtractTableOperator
from tributary.operators.verify import VerifyPartitionOperator

__all__ = ["CommitPartitionOperator", "ExtractTableOperator", "VerifyPartitionOperator"]
