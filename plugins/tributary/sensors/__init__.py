"""Airflow sensors: wait for what the replication DAGs commit to the lake."""

from __future__ import annotations

from tributary.sensors.lake_partition import LakePartitionSensor

__all__ = ["LakePartitionSensor"]
