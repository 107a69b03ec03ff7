CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_finished_idx ON webhook_deliveries (created_at) WHERE status <> 'PENDING'
