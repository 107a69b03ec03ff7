-- A quote's row is keyed by its offer's key (`quo_<uuid>`, domain/offer-id.ts) and keeps the
-- offer's MAC apart: the terms between them are the row's own columns, so the id is put
-- together again when the row is read. Keyed by the whole offer (about 270 characters) every
-- row wrote twice the WAL and the key index grew six times as large (bench/RESULTS.md).
ALTER TABLE policies DROP CONSTRAINT IF EXISTS policies_quote_id_fkey;
--> statement-breakpoint
ALTER TABLE quotes ADD COLUMN mac bytea;
--> statement-breakpoint
UPDATE quotes SET mac = decode(translate(split_part(id, '.', 3), '-_', '+/') || '==', 'base64'), id = split_part(id, '.', 1)
WHERE id LIKE 'quo\_%.%.%';
--> statement-breakpoint
-- A policy keeps the whole id it was bought with (the API shows it); it names its quote's row by the key.
ALTER TABLE policies ADD COLUMN quote_key text GENERATED ALWAYS AS (split_part(quote_id, '.', 1)) STORED;
--> statement-breakpoint
-- Joins from a quote to its policy (history, maintenance) go by the key; a quote is bought once by quote_id's own UNIQUE.
CREATE INDEX policies_quote_key_idx ON policies (quote_key);
--> statement-breakpoint
ALTER TABLE policies ADD CONSTRAINT policies_quote_key_fkey FOREIGN KEY (quote_key) REFERENCES quotes (id);
