package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// WebhookInfo describes a tenant's webhook, without its secret.
type WebhookInfo struct {
	Tenant    string
	URL       string
	CreatedAt time.Time
}

// SetWebhook makes url the tenant's webhook, signed with secret (stored
// sealed), replacing any earlier one.
func (db *DB) SetWebhook(ctx context.Context, tenant, url string, secret []byte) error {
	key, sealed, err := db.sealImage(secret, webhookSecretAAD(tenant))
	if err != nil {
		return biometric.Wrap(err, "seal webhook secret")
	}
	_, err = db.db.ExecContext(ctx, db.q(`INSERT INTO tenant_webhooks (tenant, url, secret_key, secret, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET url = excluded.url, secret_key = excluded.secret_key, secret = excluded.secret,
			created_at = excluded.created_at`),
		tenant, url, key, sealed, millis(db.now()))
	if err != nil {
		return db.dbError(err, "save webhook", nil)
	}
	return nil
}

// RemoveWebhook removes the tenant's webhook; a tenant without one gives
// ErrNotFound. Deliveries already queued fail once they find it gone.
func (db *DB) RemoveWebhook(ctx context.Context, tenant string) error {
	n, err := db.execCount(ctx, "remove webhook", `DELETE FROM tenant_webhooks WHERE tenant = ?`, tenant)
	if err != nil {
		return err
	}
	if n == 0 {
		return biometric.ErrNotFound
	}
	return nil
}

// WebhookTarget returns the tenant's webhook URL and signing secret, or
// ErrNotFound.
func (db *DB) WebhookTarget(ctx context.Context, tenant string) (url string, secret []byte, err error) {
	var key, sealed []byte
	err = db.db.QueryRowContext(ctx, db.q(`SELECT url, secret_key, secret FROM tenant_webhooks WHERE tenant = ?`), tenant).
		Scan(&url, &key, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, biometric.ErrNotFound
	}
	if err != nil {
		return "", nil, db.dbError(err, "select webhook", nil)
	}
	if secret, err = db.openImage(key, sealed, webhookSecretAAD(tenant)); err != nil {
		return "", nil, biometric.Wrap(err, "open webhook secret")
	}
	return url, secret, nil
}

// Webhooks lists every tenant's webhook, by tenant.
func (db *DB) Webhooks(ctx context.Context) ([]WebhookInfo, error) {
	return queryList(ctx, db, "list webhooks", `SELECT tenant, url, created_at FROM tenant_webhooks ORDER BY tenant`,
		func(row scanner) (WebhookInfo, error) {
			var w WebhookInfo
			var created int64
			err := row.Scan(&w.Tenant, &w.URL, &created)
			w.CreatedAt = fromMillis(created)
			return w, err
		})
}
