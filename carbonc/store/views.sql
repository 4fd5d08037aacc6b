-- The store's report views: the figures `carbonc report` and `carbonc compare` show, computed
-- where the rows are. Every view covers every run and has a `run_id` column: filter on it.
-- Each statement ends with `;` on a line of its own; docs/store.md describes every view.

-- Checks of the whole run (not a probe's per-entity rows), with how each reads in a report:
-- ok, FAIL, skip (not judged) or note (a finding that fired, which fails nothing).
CREATE OR REPLACE VIEW report_checks AS
SELECT run_id, rowid AS position, kind, name, severity, coalesce(subject, 'scenario') AS subject, passed,
       CASE WHEN passed IS NULL THEN 'skip' WHEN passed THEN 'ok'
            WHEN kind = 'finding' THEN 'note' ELSE 'FAIL' END AS verdict,
       expected, actual, message
FROM checks
WHERE entity_id IS NULL
;

-- The entities a probe found wrong, numbered per probe in the order they were judged.
CREATE OR REPLACE VIEW report_probe_failures AS
SELECT run_id, name, entity_id, actual, message, request, elapsed_ms, polls,
       row_number() OVER (PARTITION BY run_id, name ORDER BY rowid) AS rank
FROM checks
WHERE kind = 'probe' AND entity_id IS NOT NULL AND passed = false
;

-- Attempts by the provider's event name and answer class.
CREATE OR REPLACE VIEW report_deliveries_by_event AS
SELECT run_id, event_type, outcome, count(*) AS deliveries
FROM deliveries
GROUP BY run_id, event_type, outcome
;

-- Each attempt beside its message's faults (`none` for a message the plan left alone).
CREATE OR REPLACE VIEW report_attempts AS
SELECT d.run_id, d.delivery_id, d.message_id, d.attempt, d.event_type, d.signature_mode, d.sent_at,
       d.status_code, d.latency_ms, d.error, d.outcome, d.expected_verdict, d.verdict_ok, d.response_snippet,
       coalesce(m.fault, 'none') AS fault, m.entity_id, m.seq
FROM deliveries d
LEFT JOIN messages m ON m.run_id = d.run_id AND m.message_id = d.message_id
;

-- Answers that matched the expected verdict, and those that did not, by fault.
CREATE OR REPLACE VIEW report_verdicts_by_fault AS
SELECT run_id, fault, count(*) FILTER (WHERE verdict_ok) AS ok, count(*) FILTER (WHERE NOT verdict_ok) AS mismatched
FROM report_attempts
GROUP BY run_id, fault
;

-- The same by signature mode, with the verdict each mode expects.
CREATE OR REPLACE VIEW report_verdicts_by_signature AS
SELECT run_id, signature_mode, expected_verdict,
       count(*) FILTER (WHERE verdict_ok) AS ok, count(*) FILTER (WHERE NOT verdict_ok) AS mismatched
FROM deliveries
GROUP BY run_id, signature_mode, expected_verdict
;

-- The first mismatched answer of each fault: what the endpoint said, and to which attempt.
CREATE OR REPLACE VIEW report_mismatch_samples AS
SELECT run_id, fault, delivery_id, event_type, entity_id, outcome, status_code, error, response_snippet
FROM report_attempts
WHERE NOT verdict_ok
QUALIFY row_number() OVER (PARTITION BY run_id, fault ORDER BY seq, attempt, delivery_id) = 1
;

-- Latency percentiles (nearest rank) of every attempt: one row per event type, and one with
-- `event_type` NULL for the whole run.
CREATE OR REPLACE VIEW report_latency AS
SELECT run_id, event_type, count(*) AS deliveries,
       quantile_disc(latency_ms, 0.5) AS p50, quantile_disc(latency_ms, 0.95) AS p95,
       quantile_disc(latency_ms, 0.99) AS p99, max(latency_ms) AS max_ms
FROM deliveries
GROUP BY GROUPING SETS ((run_id), (run_id, event_type))
;

-- Attempts by latency, in buckets four to a doubling (`low_ms` ≤ latency < `high_ms`).
CREATE OR REPLACE VIEW report_latency_histogram AS
WITH bucketed AS (
    SELECT run_id, CAST(floor(log2(greatest(latency_ms, 0.01)) * 4) AS INTEGER) AS bucket FROM deliveries
)
SELECT run_id, bucket, pow(2, bucket / 4.0) AS low_ms, pow(2, (bucket + 1) / 4.0) AS high_ms,
       count(*) AS deliveries
FROM bucketed
GROUP BY run_id, bucket
;

-- The slowest attempts, ranked within their run (rank 1 the slowest).
CREATE OR REPLACE VIEW report_slowest AS
SELECT run_id, delivery_id, event_type, fault, entity_id, status_code, error, outcome, latency_ms,
       row_number() OVER (PARTITION BY run_id ORDER BY latency_ms DESC, delivery_id) AS rank
FROM report_attempts
;

-- Attempts over the run's sending time, cut into 60 equal slices, by answer class.
CREATE OR REPLACE VIEW report_deliveries_over_time AS
WITH timed AS (
    SELECT run_id, outcome, epoch_ms(sent_at) AS sent_ms,
           min(epoch_ms(sent_at)) OVER (PARTITION BY run_id) AS first_ms,
           max(epoch_ms(sent_at)) OVER (PARTITION BY run_id) AS last_ms
    FROM deliveries
)
SELECT run_id, least(59, CAST(floor(60 * (sent_ms - first_ms) / greatest(last_ms - first_ms, 1)) AS INTEGER)) AS slice,
       any_value(greatest(last_ms - first_ms, 1)) / 60.0 AS slice_ms, outcome, count(*) AS deliveries
FROM timed
GROUP BY ALL
;

-- What finally became of each message: `acknowledged` (a genuine message got a 2xx), `gave up`
-- (a genuine message never did), `rejected` (a forgery refused), `forgery accepted` (a 2xx to a
-- forgery), `forgery not refused` (a forgery answered otherwise: 5xx, timeout, error), `never
-- sent` (skipped, with the reason) or `not reached` (the run stopped before it).
CREATE OR REPLACE VIEW report_message_fates AS
WITH tried AS (
    SELECT run_id, message_id, count(*) AS attempts, bool_or(outcome = '2xx') AS got_2xx,
           bool_or(verdict_ok) AS any_ok, any_value(expected_verdict) AS expected_verdict
    FROM deliveries
    GROUP BY run_id, message_id
)
SELECT m.run_id, m.message_id, m.seq, m.entity_id, coalesce(m.provider_event, m.neutral_event) AS event,
       coalesce(m.fault, 'none') AS fault, coalesce(t.attempts, 0) AS attempts, m.skipped,
       CASE WHEN m.skipped IS NOT NULL THEN 'never sent'
            WHEN t.message_id IS NULL THEN 'not reached'
            WHEN t.expected_verdict = 'reject' AND t.got_2xx THEN 'forgery accepted'
            WHEN t.expected_verdict = 'reject' AND t.any_ok THEN 'rejected'
            WHEN t.expected_verdict = 'reject' THEN 'forgery not refused'
            WHEN t.got_2xx THEN 'acknowledged'
            ELSE 'gave up' END AS fate
FROM messages m
LEFT JOIN tried t ON t.run_id = m.run_id AND t.message_id = m.message_id
;

-- Messages by fate: how many, how many needed more than one attempt, and the attempts spent.
CREATE OR REPLACE VIEW report_fates AS
SELECT run_id, fate, count(*) AS messages, count(*) FILTER (WHERE attempts > 1) AS retried,
       sum(attempts) AS attempts, max(attempts) AS max_attempts
FROM report_message_fates
GROUP BY run_id, fate
;

-- Attempts that got no plain answer, by error kind, with the first such attempt.
CREATE OR REPLACE VIEW report_errors AS
SELECT run_id, error, count(*) AS deliveries, count(DISTINCT message_id) AS messages,
       arg_min(delivery_id, sent_at) AS first_delivery_id, arg_min(event_type, sent_at) AS first_event_type
FROM deliveries
WHERE error IS NOT NULL
GROUP BY run_id, error
;

-- One row per run: messages planned and sent, attempts, retries, mismatched answers, and the
-- span of the sending.
CREATE OR REPLACE VIEW report_totals AS
SELECT r.run_id,
       (SELECT count(*) FROM messages m WHERE m.run_id = r.run_id) AS messages,
       (SELECT count(*) FROM deliveries d WHERE d.run_id = r.run_id) AS deliveries,
       (SELECT count(*) FROM deliveries d WHERE d.run_id = r.run_id AND d.attempt > 1) AS retries,
       (SELECT count(*) FROM deliveries d WHERE d.run_id = r.run_id AND NOT d.verdict_ok) AS mismatched,
       (SELECT epoch_ms(min(sent_at)) FROM deliveries d WHERE d.run_id = r.run_id) AS first_sent_ms,
       (SELECT epoch_ms(max(sent_at)) FROM deliveries d WHERE d.run_id = r.run_id) AS last_sent_ms
FROM runs r
;
