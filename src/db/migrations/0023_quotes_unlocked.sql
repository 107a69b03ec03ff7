-- Quotes are written behind their answers, a burst per statement (app/quote-paths.ts). Their
-- foreign keys to risks and pools made every row take a KEY SHARE lock on its pool's row,
-- which a purchase's FOR UPDATE of that pool waits for (and blocks): quotes and sales of one
-- pool queued behind each other, and each burst dirtied the pool's and the risk's pages for
-- the lock. A quote's risk and pool come from the market it was priced on, and no risk or
-- pool is ever deleted, so the keys checked nothing.
ALTER TABLE quotes DROP CONSTRAINT IF EXISTS quotes_risk_id_fkey;
--> statement-breakpoint
ALTER TABLE quotes DROP CONSTRAINT IF EXISTS quotes_pool_id_fkey;
