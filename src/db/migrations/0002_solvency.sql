-- Solvency (DESIGN 4 and 6): tranches with premium weights, backstop fund and skim,
-- the loss waterfall per incident, IOUs, recoveries and cached adequacy.
ALTER TABLE pools
  ADD COLUMN junior_weight_bps integer NOT NULL DEFAULT 20000 CHECK (junior_weight_bps BETWEEN 0 AND 1000000),
  ADD COLUMN first_loss_weight_bps integer NOT NULL DEFAULT 30000 CHECK (first_loss_weight_bps BETWEEN 0 AND 1000000),
  ADD COLUMN adequacy_status text NOT NULL DEFAULT 'GREEN' CHECK (adequacy_status IN ('GREEN', 'AMBER', 'RED')),
  ADD COLUMN adequacy_at timestamptz,
  ADD COLUMN adequacy_var995 numeric(78, 0) NOT NULL DEFAULT 0,
  ADD COLUMN adequacy_es99 numeric(78, 0) NOT NULL DEFAULT 0;
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN skim numeric(78, 0) NOT NULL DEFAULT 0 CHECK (skim >= 0);
--> statement-breakpoint
ALTER TABLE policies ADD COLUMN repayment numeric(78, 0) NOT NULL DEFAULT 0 CHECK (repayment >= 0);
--> statement-breakpoint
ALTER TABLE payouts ADD COLUMN iou_repaid numeric(78, 0) NOT NULL DEFAULT 0 CHECK (iou_repaid >= 0);
--> statement-breakpoint
ALTER TABLE payouts ADD CONSTRAINT payouts_iou_bounded CHECK (paid + iou_repaid <= due);
--> statement-breakpoint
CREATE INDEX payouts_open_iou_idx ON payouts (created_at, policy_id) WHERE paid + iou_repaid < due;
--> statement-breakpoint
CREATE TABLE incident_layers (
  incident_id text NOT NULL REFERENCES incidents (id),
  pool_id text NOT NULL REFERENCES pools (id),
  layer text NOT NULL CHECK (layer IN ('FIRST_LOSS', 'JUNIOR', 'SENIOR', 'BACKSTOP', 'HAIRCUT')),
  amount numeric(78, 0) NOT NULL CHECK (amount >= 0),
  share_price_before numeric,
  share_price_after numeric,
  PRIMARY KEY (incident_id, pool_id, layer)
);
--> statement-breakpoint
CREATE TABLE backstop_draws (
  incident_id text NOT NULL REFERENCES incidents (id),
  pool_id text NOT NULL REFERENCES pools (id),
  asset text NOT NULL REFERENCES assets (symbol),
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  repaid numeric(78, 0) NOT NULL DEFAULT 0 CHECK (repaid >= 0 AND repaid <= amount),
  drawn_at timestamptz NOT NULL,
  PRIMARY KEY (incident_id, pool_id)
);
--> statement-breakpoint
CREATE INDEX backstop_draws_pool_idx ON backstop_draws (pool_id, drawn_at);
--> statement-breakpoint
CREATE TABLE backstop_state (
  asset text PRIMARY KEY REFERENCES assets (symbol),
  target numeric(78, 0) NOT NULL DEFAULT 0 CHECK (target >= 0),
  target_basis jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Σ (due - paid - iou_repaid) of this asset's payouts: IOUs not yet repaid.
  iou_outstanding numeric(78, 0) NOT NULL DEFAULT 0 CHECK (iou_outstanding >= 0),
  updated_at timestamptz
);
--> statement-breakpoint
INSERT INTO backstop_state (asset) SELECT symbol FROM assets;
--> statement-breakpoint
CREATE TABLE recoveries (
  id text PRIMARY KEY,
  incident_id text NOT NULL REFERENCES incidents (id),
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  reference text NOT NULL UNIQUE,
  distribution jsonb NOT NULL,
  journal_entry_id text REFERENCES journal_entries (id),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL
);
