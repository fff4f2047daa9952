-- Tenants' challenge policies, set by the operator (`everify tenants
-- set-challenge`): the steps of a server-chosen challenge and the actions
-- they are drawn from. A tenant without a row gets the server's default.

CREATE TABLE tenant_challenges (
	tenant        TEXT PRIMARY KEY,
	steps         INTEGER NOT NULL,
	first_actions JSONB NOT NULL,  -- array of actions the first step is drawn from; empty: actions
	actions       JSONB NOT NULL,  -- array of actions the later steps are drawn from
	set_at        BIGINT NOT NULL
);
