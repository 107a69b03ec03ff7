-- A quote's model explanation stored once (issue 41): the loss model's terms for a risk, a
-- day's fit and a term are the same for every quote priced from them, so they are kept here
-- once, under the hash of their content, and a quote's breakdown names them by
-- `explanationId`. Quotes stored before keep their explanation inline. `used_at` is when a
-- process last stored it (it stores it again after an hour in use); maintenance deletes one
-- no quote names a day after that.
CREATE TABLE model_explanations (
  id text PRIMARY KEY,
  explanation jsonb NOT NULL,
  used_at timestamptz NOT NULL
);
--> statement-breakpoint
-- Maintenance (every 30 s by default) asks, for explanations out of use, whether a quote
-- still names one: an index on the name answers that without reading every quote.
CREATE INDEX quotes_explanation_idx ON quotes ((breakdown->>'explanationId'));
