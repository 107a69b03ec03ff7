-- Curators price their own capacity (issue 72): the annual rate a pool asks for cover on a risk,
-- in basis points of the cover amount; null is the model's price (the floor). A price under
-- the floor is refused when set, and the floor applies whenever the market lifts it above.
ALTER TABLE pool_risks ADD COLUMN target_rate_bps integer CHECK (target_rate_bps > 0 AND target_rate_bps <= 100000);
