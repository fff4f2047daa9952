package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/everify/everify/internal/store"
)

// TestClassify checks what the store makes of the errors PostgreSQL and
// pgx give while the server stops, restarts, fills up or turns read-only.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want store.Condition
	}{
		{"unique violation", &pgconn.PgError{Code: "23505"}, store.Duplicate},
		{"admin shutdown (pg_ctl stop -m fast)", &pgconn.PgError{Code: "57P01"}, store.Unavailable},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, store.Unavailable},
		{"starting up / shutting down", &pgconn.PgError{Code: "57P03"}, store.Unavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, store.Unavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, store.Unavailable},
		{"disk full", &pgconn.PgError{Code: "53100"}, store.Full},
		{"read-only transaction", &pgconn.PgError{Code: "25006"}, store.ReadOnly},
		{"syntax error", &pgconn.PgError{Code: "42601"}, store.Other},
		{"connection refused", fmt.Errorf("select: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), store.Unavailable},
		{"connection reset", fmt.Errorf("commit: %w", syscall.ECONNRESET), store.Unavailable},
		{"server closed the connection", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), store.Unavailable},
		{"conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), store.Unavailable},
		{"bad conn", driver.ErrBadConn, store.Unavailable},
		{"request deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), store.Other},
		{"request cancelled", &net.OpError{Op: "read", Err: context.Canceled}, store.Other},
		{"anything else", errors.New("boom"), store.Other},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: classify(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
