-- Pulse ClickHouse schema (generated from src/exporters/clickhouse/schema.ts; a unit test keeps it in sync).
--
-- The clickhouse exporter creates these itself (create_schema: true, the default), for the server it finds. Use
-- this file when Pulse may not create tables (create_schema: false): run it with
--   clickhouse-client --multiquery < deploy/clickhouse/schema.sql
-- This is the DDL for ClickHouse 20.1 and later. On older servers (e.g. Debian's 18.16) drop every
-- LowCardinality(...) wrapper (keep the inner type), every CODEC(...), the INDEX line and TTL clauses, and use
-- DateTime('UTC') instead of DateTime64(3, 'UTC'); the exporter does exactly that when it creates tables.
--
-- Every table is a ReplacingMergeTree whose sorting key ends with row_id: a row re-sent after a retry, a timeout
-- or a crash has the same row_id and collapses into one. Read with FINAL (see the exporter README) to get
-- exact results before background merges have removed the duplicates.
--
-- Retention: add e.g. "TTL toDateTime(start_time) + INTERVAL 90 DAY" (the exporter does with ttl_days: 90), or
-- later: ALTER TABLE pulse.journey_attempts MODIFY TTL toDateTime(start_time) + INTERVAL 90 DAY

CREATE DATABASE IF NOT EXISTS `pulse`;

CREATE TABLE IF NOT EXISTS `pulse`.`journey_attempts`
(
    row_id UInt64,
    journey LowCardinality(String),
    start_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    start_span_id String CODEC(ZSTD(1)),
    duration_ms Float64 CODEC(ZSTD(1)),
    outcome Enum8('success' = 1, 'failure' = 2),
    reasons Array(LowCardinality(String)),
    signals Array(LowCardinality(String)),
    segment_keys Array(LowCardinality(String)),
    segment_values Array(String) CODEC(ZSTD(1)),
    services Array(LowCardinality(String)),
    service_versions Array(LowCardinality(String)),
    failing_step LowCardinality(String),
    failing_service LowCardinality(String),
    failing_version LowCardinality(String),
    span_steps Array(LowCardinality(String)),
    span_services Array(LowCardinality(String)),
    span_status_codes Array(UInt8),
    span_durations_ms Array(Float64) CODEC(ZSTD(1)),
    decided_by Enum8('complete' = 1, 'timeout' = 2, 'evicted' = 3, 'flush' = 4),
    decided_at DateTime('UTC') CODEC(Delta, ZSTD(1)),
    INDEX trace_id_idx trace_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(start_time)
ORDER BY (journey, start_time, row_id);

CREATE TABLE IF NOT EXISTS `pulse`.`journey_sli`
(
    row_id UInt64,
    window_start DateTime('UTC') CODEC(Delta, ZSTD(1)),
    window_seconds UInt32,
    journey LowCardinality(String),
    segment_key LowCardinality(String),
    segment_value LowCardinality(String),
    attempts UInt64,
    successes UInt64,
    failures UInt64,
    abandoned UInt64,
    failure_reasons Array(LowCardinality(String)),
    failure_reason_counts Array(UInt64),
    latency_bounds_ms Array(Float64) CODEC(ZSTD(1)),
    latency_counts Array(UInt64) CODEC(ZSTD(1)),
    latency_sum_ms Float64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(window_start)
ORDER BY (journey, window_start, segment_key, segment_value, row_id);

CREATE TABLE IF NOT EXISTS `pulse`.`journey_alerts`
(
    row_id UInt64,
    event_id String,
    event_time DateTime('UTC') CODEC(Delta, ZSTD(1)),
    fingerprint String CODEC(ZSTD(1)),
    journey LowCardinality(String),
    kind LowCardinality(String),
    severity LowCardinality(String),
    status LowCardinality(String),
    repeat UInt8,
    segment_key LowCardinality(String),
    segment_value String,
    starts_at DateTime('UTC'),
    starts_at_ms UInt64,
    ends_at Nullable(DateTime('UTC')),
    objective_target Float64,
    objective_window_seconds UInt32,
    error_budget_remaining Float64,
    burn_rate_windows Array(LowCardinality(String)),
    burn_rates Array(Float64),
    burn_rate_thresholds Array(Float64),
    attempts UInt64,
    failures UInt64,
    suspects String CODEC(ZSTD(1)),
    release String CODEC(ZSTD(1)),
    exemplar_trace_ids Array(String) CODEC(ZSTD(1)),
    owner LowCardinality(String),
    runbook LowCardinality(String),
    summary String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (journey, event_time, row_id);
