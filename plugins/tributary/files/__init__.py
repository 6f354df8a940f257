"""File sources: landing-zone CSV, TSV, JSON Lines and Parquet files into the bronze lake.

``landing`` lists, fetches and quarantines the files of a landing location (local, s3://, gs://)
through the same retried :class:`~tributary.lake_io.LakeRoot` as the lake; ``state`` decides
which files are new or changed since the committed runs; ``contract`` and ``read`` turn a file
into record batches of the table's contract, or into the list of its violations; ``extract``
and ``verify`` are the file-source versions of the extract, verify and commit steps. No Airflow
imports here.
"""
