package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
)

// backupCmd is `floe backup`: encrypted backups, and the network's backup
// key. Restoring is `floe restore`.
type backupCmd struct {
	out     string
	into    string
	keep    int
	key     string
	replace bool
	wait    time.Duration
}

func (*backupCmd) Name() string { return "backup" }
func (*backupCmd) Synopsis() string {
	return "encrypted backups: write one, check one, the backup key"
}
func (*backupCmd) Usage() string {
	return `Usage:
  floe backup --out FILE                     write a backup of this node to FILE
  floe backup --into FOLDER [--keep N]       write one into FOLDER, keep the newest N (default 7)
  floe backup check FILE --key KEYFILE       read a backup whole and check it; restores nothing
  floe backup key new --out KEYFILE [--replace]
                                             make the network's backup key (the admin's laptop)
  floe backup key list [--json]              the network's backup keys

A backup holds everything this laptop keeps: its records, attachments,
members records, settings, peers and its device key (and, on the admin's
laptop, the network's root key). It is taken while the node works, as
one consistent moment, and sealed to the network's backup key: no laptop
can read a backup, not even the one that wrote it. Only the backup key's
file opens it. 'floe restore' rebuilds the node from it, on this laptop or
another. See docs/backup.md.

The admin makes the backup key once, on the admin's laptop:
  floe backup key new --out /media/usb/floe-backup-key.txt
The file holds the key's private half: keep it offline (a USB stick in a
safe, a printed copy), never on a laptop of the network, and never with
the backups. Every laptop learns the public half at its next sync or
bundle and can back up from then on, with no secret. --replace makes a
new key when the file was lost or seen by someone it should not have
been; keep the old file for the backups made before.

--into writes floe-backup-DEVICE-YYYYMMDDTHHMMSS.fbk (the time in UTC)
and then removes this laptop's older backups in FOLDER beyond the newest
N; other files are left alone. A backup is written as FILE.part and
renamed when whole, so a file with the right name is always complete.
'floe node run --backup-dir FOLDER' does this on a schedule.

While 'floe node run' runs on this node, 'floe backup' asks it to write
the backup (no passphrase needed); otherwise it opens the node itself.
--wait (default 1h) is how long to wait for the running node.

check needs the key file: it decrypts the backup and checks every part of
it as a restore would, and says whose it is.
`
}
func (c *backupCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.out, "out", "", "the backup file to write (key new: the key file)")
	fs.StringVar(&c.into, "into", "", "a folder to write the backup into, with rotation")
	fs.IntVar(&c.keep, "keep", 7, "with --into: how many of this laptop's backups to keep")
	fs.StringVar(&c.key, "key", "", "check: the backup key file")
	fs.BoolVar(&c.replace, "replace", false, "key new: make a new backup key though the network has one")
	fs.DurationVar(&c.wait, "wait", time.Hour, "how long to wait for a running node to write the backup")
}

func (c *backupCmd) Run(ctx context.Context, env *Env, args []string) error {
	switch {
	case len(args) == 0:
		return c.write(ctx, env)
	case args[0] == "check":
		if len(args) != 2 || c.key == "" {
			return usagef("floe backup check FILE --key KEYFILE", "check needs one backup file and --key")
		}
		return checkBackupFile(ctx, env, args[1], c.key)
	case args[0] == "key" && len(args) == 2 && args[1] == "new":
		if c.out == "" {
			return usagef("floe backup key new --out KEYFILE", "key new needs --out: where to write the key file")
		}
		return c.newKey(ctx, env)
	case args[0] == "key" && len(args) == 2 && args[1] == "list":
		return listBackupKeys(ctx, env)
	}
	return usagef("floe backup --help", "unknown subcommand %q", args[0])
}

func (c *backupCmd) write(ctx context.Context, env *Env) error {
	if (c.out == "") == (c.into == "") {
		return usagef("floe backup --out FILE, or floe backup --into FOLDER", "give --out or --into")
	}
	if c.keep < 1 {
		return usagef("floe backup --into FOLDER --keep N", "--keep is at least 1")
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, store.KeyFileName)); err != nil {
		return fmt.Errorf("no Floe node in %s", dir)
	}
	req := node.BackupRequest{Keep: c.keep}
	if c.out != "" {
		if req.Out, err = filepath.Abs(c.out); err != nil {
			return err
		}
		if _, err := os.Lstat(req.Out); err == nil {
			return fmt.Errorf("%s already exists; choose another name or remove it first", c.out)
		}
	} else if req.Into, err = filepath.Abs(c.into); err != nil {
		return err
	}
	// A running node holds the store: ask it first. Nobody takes the
	// request within two seconds when no node runs.
	info, err := node.RequestBackup(ctx, dir, req, 2*time.Second, c.wait)
	how := "written by the running node"
	if errors.Is(err, node.ErrNoRunningNode) {
		how = ""
		info, err = c.writeHere(ctx, env, req)
	}
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, info)
	}
	if how != "" {
		how = " (" + how + ")"
	}
	env.Printf("wrote %s%s: %d entries, %d attachment chunks, %s, sealed to backup key %s\n",
		info.File, how, info.Entries, info.Chunks, humanBytes(info.Bytes), info.Key)
	return nil
}

func (c *backupCmd) writeHere(ctx context.Context, env *Env, req node.BackupRequest) (node.BackupInfo, error) {
	n, err := env.Open(ctx)
	if errors.Is(err, store.ErrLocked) {
		return node.BackupInfo{}, fmt.Errorf("%w; another program has the node open and did not answer (a 'floe serve' that is locked writes no backups: unlock it in the browser, or stop it for the backup)", err)
	}
	if err != nil {
		return node.BackupInfo{}, err
	}
	defer n.Close()
	if req.Out != "" {
		return n.WriteBackupFile(ctx, req.Out)
	}
	return n.BackupInto(ctx, req.Into, req.Keep)
}

func (c *backupCmd) newKey(ctx context.Context, env *Env) error {
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	k, err := n.MakeBackupKey(c.replace)
	if err != nil {
		return err
	}
	// The file first: a key published without its private half would
	// seal backups nobody can open.
	if err := writeFileNew(c.out, node.EncodeBackupKey(k), 0o600); err != nil {
		return err
	}
	if err := n.PublishBackupKey(ctx, k); err != nil {
		os.Remove(c.out)
		return fmt.Errorf("%w; the key file was removed again", err)
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"file": c.out, "backup_key": k.ID(), "epoch": k.Epoch})
	}
	env.Printf("wrote backup key %s to %s\n", k.ID(), c.out)
	env.Printf("Keep that file offline: a USB stick in a safe and a printed copy, never on a laptop of the network, never beside the backups. Whoever holds it and a backup reads everything the backed-up laptop held.\n")
	env.Printf("Every laptop seals its backups to this key from its next sync or bundle.\n")
	return nil
}

func listBackupKeys(ctx context.Context, env *Env) error {
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	ks := n.BackupKeys()
	if env.JSON {
		return printJSON(env.Out, ks)
	}
	if len(ks) == 0 {
		env.Printf("this network has no backup key yet: the admin makes one with 'floe backup key new --out FILE' on the admin's laptop\n")
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tMADE\t")
	for _, k := range ks {
		cur := ""
		if k.Current {
			cur = "new backups are sealed to this one"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Since.Format("2006-01-02"), cur)
	}
	return tw.Flush()
}

func readBackupKey(path string) (node.BackupKey, error) {
	b, err := readSmallFile(path, node.MaxBackupKeyLen)
	if err != nil {
		return node.BackupKey{}, err
	}
	k, err := node.DecodeBackupKey(b)
	if err != nil {
		return k, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func checkBackupFile(ctx context.Context, env *Env, path, keyPath string) error {
	k, err := readBackupKey(keyPath)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	chk, err := node.CheckBackup(ctx, bufio.NewReaderSize(f, 1<<20), k)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if env.JSON {
		return printJSON(env.Out, chk)
	}
	env.Printf("%s is whole and opens with backup key %s\n", path, chk.Key)
	printBackupCheck(env, chk)
	return nil
}

func printBackupCheck(env *Env, chk node.BackupCheck) {
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	who := chk.Device
	if chk.Name != "" || chk.Role != "" {
		who += " (" + orDash(chk.Name) + ", " + orDash(chk.Role) + ")"
	}
	if chk.Revoked {
		who += ", revoked"
	}
	fmt.Fprintf(tw, "device\t%s\t\nnetwork\t%q (%s)\t\nmade\t%s\t\nholds\t%d entries, %d attachment chunks, %d rows of keys, peers and settings\t\nstate hash\t%s\t\n",
		who, chk.NetworkName, chk.Network, chk.Created.Local().Format("2006-01-02 15:04:05 MST"), chk.Entries, chk.Chunks, chk.Meta, chk.StateHash)
	tw.Flush()
}

// restoreCmd is `floe restore`.
type restoreCmd struct {
	key       string
	newDevice bool
	join      string
	out       string
	name      string
}

func (*restoreCmd) Name() string     { return "restore" }
func (*restoreCmd) Synopsis() string { return "rebuild a node from an encrypted backup" }
func (*restoreCmd) Usage() string {
	return `Usage:
  floe restore FILE --key KEYFILE [--dir NEW]
  floe restore FILE --key KEYFILE --new-device --join INVITE [--out REQUEST] [--name NAME] [--dir NEW]

Rebuilds a node from a backup ('floe backup') into NEW (--dir, FLOE_DIR
or the default), on this laptop or another. NEW must not exist or be
empty: a restore never overwrites anything. It needs the network's backup
key file (KEYFILE, from 'floe backup key new') and asks for a new
passphrase for the restored node.

The backup is read whole and checked before the node is put in place: a
damaged, cut short or altered file, a backup of another network, or the
wrong key file is refused with a message that says which, and nothing is
left behind.

The restored node is the laptop it was: the same device key, the same
records (the same state hash), peers and settings. Sync it with a peer
('floe node run' or 'floe sync PEER') to get what was written after the
backup; a bundle made on it tells the others what it now holds. Use the
old laptop no more: if it turns up, wipe it ('floe wipe --now') before it
syncs again.

A backup of a laptop that was revoked is never restored as that laptop:
every other laptop refuses a revoked device. Restore its records as a new
device instead: the admin makes an invite ('floe member invite'), then
  floe restore FILE --key KEYFILE --new-device --join INVITE --out REQUEST
writes the new device's join request to REQUEST (default
floe-join-request.txt), and the admin admits it ('floe member admit
REQUEST'). A revocation made after the backup is not in it: if the old
laptop was lost or stolen and revoked, use --new-device. The admin's
laptop (it holds the root key) is restored only as itself.
`
}
func (c *restoreCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.key, "key", "", "the backup key file")
	fs.BoolVar(&c.newDevice, "new-device", false, "restore the records under a new device key, to be admitted with --join")
	fs.StringVar(&c.join, "join", "", "with --new-device: an invite file from 'floe member invite'")
	fs.StringVar(&c.out, "out", "floe-join-request.txt", "with --new-device: where to write the join request")
	fs.StringVar(&c.name, "name", "", "with --new-device: what to call this laptop (the admin sees it)")
}

func (c *restoreCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) != 1 || c.key == "" {
		return usagef("floe restore FILE --key KEYFILE [--dir NEW]", "want one backup file and --key")
	}
	if c.newDevice != (c.join != "") {
		return usagef("floe restore FILE --key KEYFILE --new-device --join INVITE", "--new-device and --join go together")
	}
	path := args[0]
	k, err := readBackupKey(c.key)
	if err != nil {
		return err
	}
	opts := node.RestoreOptions{Options: nodeOptions(), NewDevice: c.newDevice}
	if c.join != "" {
		inv, err := readJoin(c.join, c.out, "restored")
		if err != nil {
			return err
		}
		opts.Join = inv
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The header says at once whether this is a backup for this key,
	// before a passphrase is asked for.
	h, err := node.ReadBackupHeader(f)
	if err == nil {
		err = h.CheckKey(&k)
	}
	if err != nil {
		return fmt.Errorf("%s: %w; nothing was restored", path, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s); a restore never overwrites anything: give a new or empty directory with --dir", dir, ents[0].Name())
	}
	pass, err := env.Passphrase("New passphrase for the restored node in "+dir, true)
	if err != nil {
		return err
	}
	if len([]rune(string(pass))) < MinPassphrase {
		return fmt.Errorf("the passphrase must be at least %d characters; nothing was restored", MinPassphrase)
	}
	rep, err := node.Restore(ctx, bufio.NewReaderSize(f, 1<<20), k, dir, pass, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if c.newDevice {
		n, err := node.Open(ctx, dir, pass, nodeOptions())
		if err != nil {
			return err
		}
		err = writeJoinRequest(env, n, c.name, c.out)
		n.Close()
		if err != nil {
			return fmt.Errorf("the node was restored, but the join request was not written: %w; make it with 'floe member request --out FILE'", err)
		}
	}
	if env.JSON {
		return printJSON(env.Out, rep)
	}
	env.Printf("restored %s from %s\n", dir, path)
	printBackupCheck(env, rep.BackupCheck)
	if rep.NewDevice {
		env.Printf("This is a new device, %s, with the records of %s. Once the admin has admitted it, sync it with a peer.\n", rep.NodeID, rep.Device)
		return nil
	}
	env.Printf("This is %s again. Sync it with a peer ('floe node run' or 'floe sync PEER') for what was written after the backup. If the old laptop turns up, wipe it ('floe wipe --now') before it syncs again.\n", rep.NodeID)
	return nil
}

// checkBackupFlags checks floe node run's backup flags.
func checkBackupFlags(dir string, every time.Duration, keep int) error {
	if dir == "" {
		return nil
	}
	if every < time.Second {
		return usagef("floe node run --backup-dir FOLDER --backup-every 24h", "--backup-every is at least 1s")
	}
	if keep < 1 {
		return usagef("floe node run --backup-dir FOLDER --backup-keep 7", "--backup-keep is at least 1")
	}
	return nil
}

// startBackups has a running node write backups when 'floe backup' asks,
// and, with a folder, on a schedule. The function it returns stops them
// and waits until they have: call it before the node closes.
func startBackups(ctx context.Context, n *node.Node, dir string, every time.Duration, keep int) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { n.ServeBackupRequests(ctx, 500*time.Millisecond) })
	if dir != "" {
		wg.Go(func() { n.RunBackups(ctx, node.BackupSchedule{Dir: dir, Every: every, Keep: keep}) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}
