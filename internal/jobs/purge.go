package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// retention says how long what is kept.
type retention struct {
	biometrics time.Duration // frames, reference faces (from the session's start)
	records    time.Duration // decisions and audit records
}

// Batch sizes of the purges: each batch is one transaction, so that the
// purge never holds locks for long.
const (
	biometricBatch = 200
	recordBatch    = 1000
)

// purgeArgs is the periodic job that applies the retention periods.
type purgeArgs struct{}

// Kind implements river.JobArgs.
func (purgeArgs) Kind() string { return "retention_purge" }

// purgeWorker erases biometric data after its retention, then deletes
// decisions and audit records after theirs, and drops idle rate limit
// buckets.
type purgeWorker struct {
	river.WorkerDefaults[purgeArgs]
	store     Store
	log       *slog.Logger
	now       func() time.Time
	retention retention
}

// Work runs one purge, in batches until nothing is due.
func (w *purgeWorker) Work(ctx context.Context, _ *river.Job[purgeArgs]) error {
	now := w.now()
	biometrics := 0
	for {
		n, err := w.store.PurgeBiometrics(ctx, now.Add(-w.retention.biometrics), biometricBatch)
		biometrics += n
		if err != nil {
			return err
		}
		if n < biometricBatch {
			break
		}
	}
	sessions, err := drain(ctx, now.Add(-w.retention.records), w.store.PurgeSessions)
	if err != nil {
		return err
	}
	records, err := drain(ctx, now.Add(-w.retention.records), w.store.PurgeAudit)
	if err != nil {
		return err
	}
	if _, err := w.store.PurgeRateLimits(ctx, now); err != nil {
		return err
	}
	if biometrics+int(sessions)+int(records) > 0 {
		w.log.Info("retention purge", slog.Int("biometrics_erased", biometrics),
			slog.Int64("sessions_deleted", sessions), slog.Int64("audit_records_deleted", records))
	}
	return nil
}

// drain calls purge with batches of recordBatch until a batch comes back
// short, and returns the total.
func drain(ctx context.Context, before time.Time, purge func(context.Context, time.Time, int) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := purge(ctx, before, recordBatch)
		total += n
		if err != nil || n < recordBatch {
			return total, err
		}
	}
}
