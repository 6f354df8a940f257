{# The extract history: one row per extract per run of the extracts DAG, written by its summary
   task. #}
CREATE SCHEMA IF NOT EXISTS {{ ident(schema) }};
CREATE TABLE IF NOT EXISTS {{ ident(schema) }}.{{ ident(table) }} (
    dag_id            VARCHAR     NOT NULL,
    run_id            VARCHAR     NOT NULL,
    extract_name      VARCHAR     NOT NULL,
    execution_group   VARCHAR     NOT NULL,
    requested_group   VARCHAR,
    config_file       VARCHAR,
    source            VARCHAR,
    format            VARCHAR,
    status            VARCHAR     NOT NULL,
    rows              BIGINT,
    bytes             BIGINT,
    file              VARCHAR,
    window_start      TIMESTAMPTZ,
    window_end        TIMESTAMPTZ,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    duration_seconds  DOUBLE,
    try_number        INTEGER,
    error             VARCHAR,
    recorded_at       TIMESTAMPTZ NOT NULL
)
