package cli

import (
	"context"
	"flag"
	"time"

	"github.com/floe-north/floe/store"
)

// wipeCmd is `floe wipe`: crypto-erase, now or after failed unlocks.
type wipeCmd struct {
	now   bool
	after int
}

func (*wipeCmd) Name() string { return "wipe" }
func (*wipeCmd) Synopsis() string {
	return "destroy this node's keys (crypto-erase), now or after failed unlocks"
}
func (*wipeCmd) Usage() string {
	return `Usage:
  floe wipe --now [--dir DIR]                  destroy the node's keys and files now
  floe wipe --after-failures N [--dir DIR]     wipe after N wrong passphrases in a row (0: off)

wipe --now overwrites and removes the key file first (well within two
seconds), then removes the rest of the node's directory. It asks for no
passphrase: it is for a laptop about to be lost or taken. Everything in the
node is encrypted under a key that exists only in that key file, so once it
is gone the right passphrase opens nothing and the data files are noise.
This is crypto-erase. Overwriting files is not what makes it work: an SSD
or a memory card keeps old copies of blocks where the operating system
cannot reach them, so an old copy of the key file may survive inside the
drive; it is still locked by the passphrase. Entries already synced to
other nodes stay there. A running 'floe node run' keeps its keys in memory
until it stops: stop it too.

--after-failures N (asks for the passphrase) makes the node wipe itself
after N wrong passphrases in a row; a right one resets the count. It is off
by default. It stops someone guessing at the keyboard, not someone who
copied the disk first (the passphrase's key derivation does that).
`
}
func (c *wipeCmd) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.now, "now", false, "destroy the keys now")
	fs.IntVar(&c.after, "after-failures", -1, "wipe after this many wrong passphrases in a row; 0 turns it off")
}
func (c *wipeCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "wipe"); err != nil {
		return err
	}
	if c.now == (c.after >= 0) {
		return usagef("floe wipe --now, or floe wipe --after-failures N", "give --now or --after-failures N")
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	if c.after >= 0 {
		pass, err := env.Passphrase("Passphrase for "+dir, false)
		if err != nil {
			return err
		}
		if err := store.SetWipeAfter(dir, pass, c.after); err != nil {
			return err
		}
		if c.after == 0 {
			env.Printf("wrong passphrases no longer wipe %s\n", dir)
		} else {
			env.Printf("%s wipes itself after %d wrong passphrases in a row\n", dir, c.after)
		}
		return nil
	}
	rep, err := store.Wipe(dir)
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"dir": dir, "key_files": rep.KeyFiles, "key_erased_ms": rep.KeyErased.Milliseconds(),
			"data_removed": rep.DataRemoved, "maybe_open": rep.MaybeOpen})
	}
	env.Printf("wiped %s: the key was destroyed in %s", dir, rep.KeyErased.Round(time.Millisecond))
	if rep.DataRemoved {
		env.Printf(" and the files removed")
	}
	env.Printf("\n")
	if rep.MaybeOpen {
		env.Printf("a floe process seemed to have the node open: stop it, it still holds the keys in memory\n")
	}
	return nil
}
