"""Airflow triggers: the waiting of Tributary's deferrable sensors, run in the triggerer."""

from __future__ import annotations

from tributary.triggers.lake_partition import LakePartitionTrigger

__all__ = ["LakePartitionTrigger"]
