-- The sender picks payouts before withdrawals (issue 34): the queue in that order.
CREATE INDEX outbound_transfers_queue_order_idx ON outbound_transfers ((kind = 'WITHDRAWAL'), created_at, id) WHERE status = 'QUEUED';
