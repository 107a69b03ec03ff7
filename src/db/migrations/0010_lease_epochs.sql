-- Fencing (issue 34): every change of a lease's holder raises its epoch, and a leader's writes
-- check holder and epoch in their own transaction, so a leader that lost its lease (paused
-- past its TTL) writes nothing when it wakes. A released lease is expired, not deleted, so
-- its epoch only grows.
ALTER TABLE leases ADD COLUMN epoch bigint NOT NULL DEFAULT 1;
