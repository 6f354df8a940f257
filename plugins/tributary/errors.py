"""The package's exceptions: one base, subclasses that say what went wrong.

``permanent`` tells the Airflow adapters whether a retry can help: a permanent error fails the
task at once (``AirflowFailException``) instead of using up its retries.
"""

from __future__ import annotations


class TributaryError(Exception):
    """Base of every error Tributary raises."""

    permanent: bool = False


class ConfigError(TributaryError):
    """A pipeline config file is invalid; the message names the file, line, key and fix."""

    permanent = True


class SourceError(TributaryError):
    """Reading the source database failed."""


class DataError(SourceError):
    """A source value cannot be written as its column's type; re-reading will not change it."""

    permanent = True


class CatalogError(SourceError):
    """A table or column named in the config does not exist in the source catalog."""

    permanent = True


class TypeMappingError(SourceError):
    """A source column has a type Tributary cannot map to Arrow exactly."""

    permanent = True


class LakeError(TributaryError):
    """Reading or writing the lake failed."""


class UnsafePathError(LakeError):
    """A path Tributary was about to write lies outside its lake root (a bug, or a name the
    encoding of :func:`tributary.lake.path_segment` did not make safe): nothing is written."""

    permanent = True


class ParityError(TributaryError):
    """The rows written differ from the rows the source holds for the same window."""

    permanent = True


class IncompletePartitionError(LakeError):
    """A partition's manifest lists files that are missing or have another size."""


class StrayFilesError(IncompletePartitionError):
    """A partition holds data files its manifest does not list: the commit refuses it."""

    permanent = True


class ConcurrentRunError(LakeError):
    """Another run committed a newer state of the table than the one this run planned from."""

    permanent = True


class QualityError(TributaryError):
    """A QA check of a table failed on the data a run wrote; re-running will not change it."""

    permanent = True


class RejectedFilesError(TributaryError):
    """Files of a file source broke their contract and the table's policy is ``fail``."""

    permanent = True
