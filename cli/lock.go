package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/floe-north/floe/store"
)

// A running node (floe node run) watches for this file in its data
// directory; floe lock writes it. A file works the same on Windows and
// Unix and needs no open port.
const lockRequestFile = "floe.lock-request"

func lockRequested(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lockRequestFile))
	return err == nil
}

func clearLockRequest(dir string) { os.Remove(filepath.Join(dir, lockRequestFile)) }

type lockCmd struct {
	wait time.Duration
}

func (*lockCmd) Name() string     { return "lock" }
func (*lockCmd) Synopsis() string { return "lock the running node: close its store and drop its keys" }
func (*lockCmd) Usage() string {
	return `Usage: floe lock [--dir DIR] [--wait D]

Locks the node running on DIR ('floe node run'): it stops syncing, closes
the store and drops its keys from memory (as far as Go allows: the keys
are overwritten, but copies the runtime made meanwhile cannot be reached).
Unlocking needs the passphrase: run 'floe node run' again. Needs no
passphrase itself, so anyone at the laptop can lock it in a hurry.

Every other floe command holds the keys only while it runs: it unlocks,
does its work and locks again on exit.

--wait (default 5s) is how long to wait for the node to confirm.
`
}
func (c *lockCmd) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.wait, "wait", 5*time.Second, "how long to wait for the running node to lock")
}
func (c *lockCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "lock"); err != nil {
		return err
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, store.KeyFileName)); err != nil {
		return fmt.Errorf("no Floe node in %s", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, lockRequestFile), []byte("lock\n"), 0o600); err != nil {
		return fmt.Errorf("asking the node to lock: %w", err)
	}
	deadline := time.Now().Add(c.wait)
	for time.Now().Before(deadline) {
		if !lockRequested(dir) {
			env.Printf("locked\n")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	clearLockRequest(dir)
	return errors.New("no running node answered (is 'floe node run' running on this directory?); nothing holds its keys outside a running command")
}
