package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// The environment variables that hold the master keyring.
const (
	masterKeyEnv     = "EVERIFY_MASTER_KEY"      // the keyring itself: base64 keys, the primary first, comma-separated
	masterKeyFileEnv = "EVERIFY_MASTER_KEY_FILE" // a keyring file (mode 0600), reloaded when it changes
)

// masterKeyFile is the keyring file's name in a SQLite data directory when
// neither variable is set.
const masterKeyFile = "master.key"

// openSealer returns the Sealer of the store's master keyring and a
// description of where the keyring is, without secrets:
//
//   - $EVERIFY_MASTER_KEY holds the keyring (fixed while the process runs);
//   - $EVERIFY_MASTER_KEY_FILE names a keyring file (reloaded when it
//     changes, so that `everify keys rotate-master` reaches running
//     servers);
//   - otherwise, for SQLite only, the file master.key in the data
//     directory, created with a new key when the data directory is new.
//
// PostgreSQL requires one of the variables: a key generated on one replica
// would not be known to the others, and a database without its key is
// lost.
func openSealer(ctx context.Context, dataDir string, postgres bool) (*seal.Sealer, string, error) {
	text, file := os.Getenv(masterKeyEnv), os.Getenv(masterKeyFileEnv)
	switch {
	case text != "" && file != "":
		return nil, "", fmt.Errorf("both $%s and $%s are set; set one", masterKeyEnv, masterKeyFileEnv)
	case text != "":
		ring, err := seal.ParseKeyring(text)
		if err != nil {
			return nil, "", fmt.Errorf("$%s: %w", masterKeyEnv, err)
		}
		return seal.NewSealer(ring), "$" + masterKeyEnv, nil
	case file != "":
		s, err := seal.OpenFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("$%s: %w", masterKeyFileEnv, err)
		}
		return s, file, nil
	case postgres:
		return nil, "", fmt.Errorf("PostgreSQL needs a master key to seal the images it stores: set $%s to a keyring file "+
			"(create one with 'everify keys new-master > FILE; chmod 600 FILE', the same file on every replica) or $%s to the key; "+
			"keep it apart from the database and its backups", masterKeyFileEnv, masterKeyEnv)
	}
	path := filepath.Join(dataDir, masterKeyFile)
	s, err := seal.OpenFile(path)
	if err == nil {
		return s, path, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	// Only a data directory without sealed data gets a new key: a
	// database migrated to sealing may hold images sealed under a key that
	// was lost or moved.
	sealed, err := sqlite.MayHoldSealed(ctx, dataDir)
	if err != nil {
		return nil, "", err
	}
	if sealed {
		return nil, "", fmt.Errorf("%s holds a database but no master key file %s: restore it from its backup, "+
			"or point $%s at it (without it the stored images cannot be opened)", dataDir, masterKeyFile, masterKeyFileEnv)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create data directory: %w", err)
	}
	// Another process starting on the same new directory may win the race
	// to create the key; its key is the one to use.
	if _, err := seal.CreateFile(path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, "", err
	}
	s, err = seal.OpenFile(path)
	if err != nil {
		return nil, "", err
	}
	return s, path, nil
}

// runNewMaster implements `everify keys new-master`: it prints a new
// master key, with its id, for a keyring in $EVERIFY_MASTER_KEY or a
// keyring file.
func runNewMaster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys new-master", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	ring := seal.NewKeyring()
	fmt.Fprint(stdout, ring.Format())
	fmt.Fprintf(stderr, "A new master key, %s. Add it to the keyring ($%s, or the file $%s names, mode 0600) "+
		"of every replica after the primary; once all have it, move it first; then run 'everify keys rotate-master --rewrap-only' "+
		"and remove the old keys. Back it up apart from the database.\n", ring.PrimaryID(), masterKeyEnv, masterKeyFileEnv)
	return nil
}

// runMasterStatus implements `everify keys master-status`: where the
// keyring is, its keys, and how many stored objects each one wraps.
func runMasterStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys master-status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	sealer, source, err := openSealer(ctx, *dataDir, os.Getenv(databaseURLEnv) != "")
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{Sealer: sealer})
	if err != nil {
		return err
	}
	defer db.Close()
	ring, err := sealer.Keyring()
	if err != nil {
		return err
	}
	usage, err := db.MasterKeyUsage(ctx, seal.KeyID)
	if err != nil {
		return fmt.Errorf("counting sealed objects in %s: %w", where, err)
	}
	fmt.Fprintf(stdout, "Master keyring: %s\nStore: %s\n\n", source, where)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tROLE\tSEALED OBJECTS")
	for i, id := range ring.IDs() {
		role := "old (opens only)"
		if i == 0 {
			role = "primary (seals)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", id, role, usage[id])
		delete(usage, id)
	}
	for id, n := range usage {
		fmt.Fprintf(tw, "%s\tMISSING from the keyring\t%d\n", id, n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(usage) > 0 {
		return fmt.Errorf("%d master keys that sealed stored objects are not in the keyring: those objects cannot be opened", len(usage))
	}
	return nil
}

// runRotateMaster implements `everify keys rotate-master`: a new primary
// master key, and every stored data key re-wrapped under it, while the
// service runs.
func runRotateMaster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys rotate-master", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	rewrapOnly := fs.Bool("rewrap-only", false, "add no key: re-wrap everything under the keyring's current primary (after you made a new key primary on every replica)")
	keepOld := fs.Bool("keep-old", false, "keep the old keys in the keyring file after re-wrapping")
	wait := fs.Duration("wait", 10*time.Second, "how long to give running servers to start sealing with the new key before re-wrapping")
	batch := fs.Int("batch", 500, "keys re-wrapped per transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	if *batch < 1 {
		return usageErrorf("--batch must be at least 1")
	}
	sealer, source, err := openSealer(ctx, *dataDir, os.Getenv(databaseURLEnv) != "")
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	file := sealer.Path()
	switch {
	case *rewrapOnly:
	case file == "":
		return usageErrorf("the keyring comes from $%s, which this command cannot change for the running servers: "+
			"make a key with 'everify keys new-master', add it to $%s after the primary on every replica and restart them, "+
			"then move it first and restart them again, then run 'everify keys rotate-master --rewrap-only' (see docs/OPERATIONS.md)",
			masterKeyEnv, masterKeyEnv)
	case os.Getenv(databaseURLEnv) != "":
		// Replicas on other hosts read their own copy of the keyring: a
		// key added here alone would leave them unable to open what is
		// re-wrapped under it.
		return usageErrorf("on PostgreSQL every replica's keyring must know a new key before anything is sealed under it: " +
			"make a key with 'everify keys new-master', add it to every replica's keyring after the primary, " +
			"then (all having it) move it first, then run 'everify keys rotate-master --rewrap-only' " +
			"(a changed keyring file is reloaded within seconds; see docs/OPERATIONS.md)")
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{Sealer: sealer})
	if err != nil {
		return err
	}
	defer db.Close()
	ring, err := sealer.Keyring()
	if err != nil {
		return err
	}
	if !*rewrapOnly {
		if ring, err = ring.WithPrimary(seal.NewKey()); err != nil {
			return err
		}
		if err := seal.WriteFile(file, ring); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "New primary master key %s written to %s.\nWaiting %s for running servers to seal with it…\n", ring.PrimaryID(), file, *wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*wait):
		}
		if err := sealer.Reload(); err != nil {
			return err
		}
	}
	// Repeat until a pass finds nothing to do: a server that was slow to
	// pick up the new key may have sealed under an old one meanwhile.
	replaced := 0
	for pass := 0; pass < 5; pass++ {
		n, err := db.RewrapKeys(ctx, sealer.Rewrap, *batch)
		replaced += n
		if err != nil {
			return fmt.Errorf("re-wrapping the data keys in %s (%d done; run the command again with --rewrap-only to finish): %w", where, replaced, err)
		}
		if n == 0 {
			break
		}
	}
	usage, err := db.MasterKeyUsage(ctx, seal.KeyID)
	if err != nil {
		return fmt.Errorf("counting sealed objects in %s: %w", where, err)
	}
	fmt.Fprintf(stdout, "Re-wrapped %d data keys under %s (the sealed images themselves were not rewritten).\n", replaced, ring.PrimaryID())
	var unused, inUse []string
	for _, id := range ring.IDs()[1:] {
		if usage[id] == 0 {
			unused = append(unused, id)
		} else {
			inUse = append(inUse, id)
		}
	}
	switch {
	case len(inUse) > 0:
		fmt.Fprintf(stdout, "Old keys %v still seal stored objects (written while the command ran); run it again with --rewrap-only.\n", inUse)
	case len(unused) == 0:
	case file != "" && !*keepOld:
		retired, err := ring.Retire(unused...)
		if err != nil {
			return err
		}
		if err := seal.WriteFile(file, retired); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Retired the old keys %v from %s: nothing stored needs them any more.\n", unused, file)
	default:
		fmt.Fprintf(stdout, "Old keys %v seal nothing any more: remove them from the keyring (%s).\n", unused, source)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Actor: audit.ActorOperator, Action: audit.ActionMasterRotation,
		Decision: "primary=" + ring.PrimaryID()}); err != nil {
		return fmt.Errorf("recording the rotation in the audit log: %w", err)
	}
	return nil
}
