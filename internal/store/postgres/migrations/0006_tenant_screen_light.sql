-- A tenant's challenge policy may require the screen-light challenge on
-- every session (`everify tenants set-challenge --screen-light`).

ALTER TABLE tenant_challenges ADD COLUMN screen_light INTEGER NOT NULL DEFAULT 0;  -- 1: every session gets a light sequence
