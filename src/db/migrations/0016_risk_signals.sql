-- Several signals on one risk (issue 43): a smart-contract-failure risk triggers when any of
-- its signals meets its own rule (a share price down 50% held an hour, or paused for 6 hours).
-- `signals` are the named rules beside the risk's own (terms fixed at creation, like the rule);
-- `signal_states` each one's trigger state while the risk is not CONFIRMED; a feed drives the
-- risk's own rule ('') or one named signal; an event says which signal moved.
ALTER TABLE risks ADD COLUMN signals jsonb NOT NULL DEFAULT '[]';
--> statement-breakpoint
ALTER TABLE risks ADD COLUMN signal_states jsonb NOT NULL DEFAULT '{}';
--> statement-breakpoint
ALTER TABLE risk_feeds ADD COLUMN signal text NOT NULL DEFAULT '';
--> statement-breakpoint
ALTER TABLE risk_events ADD COLUMN signal text;
