package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// TenantChallengeInfo is a tenant's challenge policy and when it was set.
type TenantChallengeInfo struct {
	Tenant string
	Rules  biometric.ChallengeRules
	SetAt  time.Time
}

// SetTenantChallenges makes rules the tenant's challenge policy, replacing
// any earlier one. Rules that do not validate give their invalid error and
// store nothing.
func (db *DB) SetTenantChallenges(ctx context.Context, tenant string, rules biometric.ChallengeRules) error {
	if err := rules.Validate(); err != nil {
		return err
	}
	first, err := json.Marshal(nonNil(rules.First))
	if err != nil {
		return biometric.Wrap(err, "encode challenge policy")
	}
	actions, err := json.Marshal(rules.Actions)
	if err != nil {
		return biometric.Wrap(err, "encode challenge policy")
	}
	light := 0
	if rules.ScreenLight {
		light = 1
	}
	_, err = db.db.ExecContext(ctx, db.q(`INSERT INTO tenant_challenges (tenant, steps, first_actions, actions, screen_light, set_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET steps = excluded.steps, first_actions = excluded.first_actions,
			actions = excluded.actions, screen_light = excluded.screen_light, set_at = excluded.set_at`),
		tenant, rules.Steps, string(first), string(actions), light, millis(db.now()))
	if err != nil {
		return db.dbError(err, "save challenge policy", nil)
	}
	return nil
}

// ClearTenantChallenges removes the tenant's challenge policy, so that its
// sessions get the server's default again; a tenant without one gives
// ErrNotFound.
func (db *DB) ClearTenantChallenges(ctx context.Context, tenant string) error {
	n, err := db.execCount(ctx, "clear challenge policy", `DELETE FROM tenant_challenges WHERE tenant = ?`, tenant)
	if err != nil {
		return err
	}
	if n == 0 {
		return biometric.ErrNotFound
	}
	return nil
}

// TenantChallenges returns the tenant's challenge policy; ok is false
// when the tenant has none.
func (db *DB) TenantChallenges(ctx context.Context, tenant string) (rules biometric.ChallengeRules, ok bool, err error) {
	info, err := scanTenantChallenges(db.db.QueryRowContext(ctx,
		db.q(`SELECT `+tenantChallengeColumns+` FROM tenant_challenges WHERE tenant = ?`), tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return biometric.ChallengeRules{}, false, nil
	}
	if err != nil {
		return biometric.ChallengeRules{}, false, db.dbError(err, "select challenge policy", nil)
	}
	return info.Rules, true, nil
}

// ListTenantChallenges returns every tenant's challenge policy, by tenant.
func (db *DB) ListTenantChallenges(ctx context.Context) ([]TenantChallengeInfo, error) {
	return queryList(ctx, db, "list challenge policies",
		`SELECT `+tenantChallengeColumns+` FROM tenant_challenges ORDER BY tenant`, scanTenantChallenges)
}

const tenantChallengeColumns = `tenant, steps, first_actions, actions, screen_light, set_at`

// scanTenantChallenges reads one tenant_challenges row selected with
// tenantChallengeColumns.
func scanTenantChallenges(row scanner) (TenantChallengeInfo, error) {
	var (
		info           TenantChallengeInfo
		first, actions string
		light          int
		set            int64
	)
	if err := row.Scan(&info.Tenant, &info.Rules.Steps, &first, &actions, &light, &set); err != nil {
		return info, err
	}
	info.Rules.ScreenLight = light != 0
	info.SetAt = fromMillis(set)
	if err := json.Unmarshal([]byte(first), &info.Rules.First); err != nil {
		return info, fmt.Errorf("tenant %s: decode challenge policy: %w", info.Tenant, err)
	}
	if err := json.Unmarshal([]byte(actions), &info.Rules.Actions); err != nil {
		return info, fmt.Errorf("tenant %s: decode challenge policy: %w", info.Tenant, err)
	}
	if len(info.Rules.First) == 0 {
		info.Rules.First = nil
	}
	return info, nil
}

// nonNil returns s, or an empty slice for nil (stored as [] rather than
// null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
