package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
)

// TestOpenWaitsForMigrationLock holds the migration lock as another process
// would and checks that Open waits for it.
func TestOpenWaitsForMigrationLock(t *testing.T) {
	dir := t.TempDir()
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	opened := make(chan error, 1)
	go func() {
		db, err := Open(t.Context(), dir, store.Options{Sealer: seal.NewSealer(seal.NewKeyring())})
		if err == nil {
			db.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned (err = %v) while another process held the migration lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open after the lock was released: %v", err)
	}
}
