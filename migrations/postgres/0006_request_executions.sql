-- Executors outside countersign (docs/protocol.md §7.5): when the current delivery began
-- (an attempt still executing past its timeout was interrupted), and whether the receiver's
-- answer was cut at 64 KiB.
ALTER TABLE requests ADD COLUMN execution_started_at TIMESTAMPTZ;
ALTER TABLE requests ADD COLUMN execution_response_truncated BOOLEAN;
-- The sweeper looks for requests still executing.
CREATE INDEX requests_executing ON requests (id) WHERE status = 'executing';
