package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// peerCmd is `floe peer add|list|rm`.
type peerCmd struct {
	name string
}

func (*peerCmd) Name() string     { return "peer" }
func (*peerCmd) Synopsis() string { return "the devices this node syncs with: add, list, rm" }
func (*peerCmd) Usage() string {
	return `Usage:
  floe peer add [--name NAME] ADDR...      add a peer by its full address
  floe peer add [--name NAME] DEVICE [ADDR...]
                                           add a peer by device ID (addresses optional)
  floe peer list [--json]                  known peers, last sync, bytes and pending entries
  floe peer rm PEER                        forget a peer

ADDR is a libp2p address as 'floe node run' prints it, for example
/ip4/192.168.1.20/tcp/7420/p2p/12D3KooW... A peer without an address is
one that reaches this node, or that exchanges bundles only. PEER is a
peer's name, its device ID, or the first 6 or more characters of it.

Only current members of the network (devices with a certificate that is
not revoked) can connect: the node refuses every other device right after
the handshake, even one holding the network key. The peer list says whom
to dial; removing a peer does not revoke it (floe member revoke does).
`
}
func (c *peerCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.name, "name", "", "add: a name for the peer (one line)")
}
func (c *peerCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("floe peer add|list|rm", "want a subcommand: add, list or rm")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add", "list", "rm":
	default:
		return usagef("floe peer add|list|rm", "unknown subcommand %q", sub)
	}
	if sub == "add" && len(args) == 0 {
		return usagef("floe peer add /ip4/.../tcp/7420/p2p/12D3KooW...", "want an address or a device ID")
	}
	if sub == "rm" && len(args) != 1 {
		return usagef("floe peer rm PEER", "want one peer")
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	switch sub {
	case "add":
		p, err := peerFromArgs(c.name, args)
		if err != nil {
			return err
		}
		if err := n.AddPeer(p); err != nil {
			return err
		}
		env.Printf("added peer %s\n", p.Device)
		return nil
	case "rm":
		p, err := n.FindPeer(args[0])
		if err != nil {
			return err
		}
		if err := n.RemovePeer(p.Device); err != nil {
			return err
		}
		env.Printf("removed peer %s; it can no longer connect to this node\n", p.Device)
		return nil
	}
	ps, err := n.PeerStatuses(ctx)
	if err != nil {
		return err
	}
	if env.JSON {
		if ps == nil {
			ps = []node.PeerStatus{}
		}
		return printJSON(env.Out, ps)
	}
	printPeers(env, ps)
	return nil
}

// peerFromArgs reads "ADDR..." or "DEVICE [ADDR...]".
func peerFromArgs(name string, args []string) (node.Peer, error) {
	p := node.Peer{Name: name}
	if !strings.HasPrefix(args[0], "/") {
		d, err := sp.ParseDeviceID(args[0])
		if err != nil {
			return p, usagef("floe peer add --help", "%v", err)
		}
		p.Device = d
		args = args[1:]
	}
	for _, a := range args {
		t, d, err := node.ParseAddr(a)
		if err != nil {
			if p.Device == (sp.DeviceID{}) {
				return p, usagef("floe peer add --help", "%v", err)
			}
			// A bare transport address for a device given by ID.
			p.Addrs = append(p.Addrs, a)
			continue
		}
		if p.Device != (sp.DeviceID{}) && d != p.Device {
			return p, usagef("floe peer add --help", "the addresses lead to different devices")
		}
		p.Device = d
		p.Addrs = append(p.Addrs, t)
	}
	return p, nil
}

func printPeers(env *Env, ps []node.PeerStatus) {
	if len(ps) == 0 {
		env.Printf("no peers yet; add one with 'floe peer add ADDR'\n")
		return
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tDEVICE\tLAST SYNC\tOUT\tIN\tPENDING\tSTATE\n")
	for _, p := range ps {
		last := "never"
		if !p.LastSync.IsZero() {
			last = p.LastSync.Local().Format("2006-01-02 15:04")
		}
		state := "ok"
		if p.LastError != "" {
			state = fmt.Sprintf("failing (%d): %s", p.Failures, p.LastError)
			if r := []rune(state); len(r) > 60 {
				state = string(r[:60]) + "…"
			}
		}
		name := p.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", name, shortDev(p.Device), last,
			humanBytes(int64(p.BytesOut)), humanBytes(int64(p.BytesIn)), p.EntriesPending, state)
	}
	tw.Flush()
}

// syncCmd is `floe sync PEER`: one session, now.
type syncCmd struct {
	timeout time.Duration
}

func (*syncCmd) Name() string     { return "sync" }
func (*syncCmd) Synopsis() string { return "sync with one peer now, over the network" }
func (*syncCmd) Usage() string {
	return `Usage: floe sync PEER [--timeout D] [--json]

Connects to PEER (see 'floe peer list') over libp2p and runs one sync
session: both nodes end up with every entry either had. A progress line
shows entries and bytes each way and an estimate of the time left. If the
link drops, what arrived is kept, and the next sync carries on from there.

The node must not be running ('floe node run' syncs by itself).
`
}
func (c *syncCmd) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "give up after this long")
}
func (c *syncCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 1, "one peer", "sync"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	p, err := n.FindPeer(args[0])
	if err != nil {
		return err
	}
	if len(p.Addrs) == 0 {
		return fmt.Errorf("peer %s has no address; add one with 'floe peer add %s ADDR', or exchange bundles", args[0], p.Device)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	h, err := n.StartHost(ctx, []string{}, node.SyncOptions{})
	if err != nil {
		return err
	}
	defer h.Close()
	pl := newProgressLine(env)
	res, err := n.SyncPeer(ctx, h, p, node.SyncOptions{Progress: pl.show})
	pl.done()
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, syncJSON(res))
	}
	st := res.Stats
	env.Printf("synced with %s in %s: sent %d entries (%s), received %d (%s)\n", peerLabel(p), res.Duration.Round(time.Millisecond),
		st.Sent, humanBytes(st.Out.Total()), st.Received, humanBytes(st.In.Total()))
	if res.HeldBack > 0 {
		env.Printf("held back %d entries stamped too far in the future or by a device whose certificate has not arrived; a later sync brings them (if it persists, check this laptop's clock and the sender's)\n", res.HeldBack)
	}
	if res.Refused > 0 {
		env.Printf("refused %d entries their authors were not allowed to write (revoked, or outside their role or area)\n", res.Refused)
	}
	if b := res.Blobs; b.ChunksIn+b.ChunksOut > 0 || b.Err != nil {
		env.Printf("attachments: %d chunks received (%s), %d sent", b.ChunksIn, humanBytes(int64(b.BytesIn)), b.ChunksOut)
		if b.Err != nil {
			env.Printf("; stopped early, the next sync continues: %v", b.Err)
		}
		env.Printf("\n")
	}
	return nil
}

func peerLabel(p node.Peer) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Device.Short()
}

type syncResultJSON struct {
	Peer       string `json:"peer"`
	Millis     int64  `json:"millis"`
	Sent       int    `json:"entries_sent"`
	Received   uint64 `json:"entries_received"`
	BytesOut   int64  `json:"bytes_out"`
	BytesIn    int64  `json:"bytes_in"`
	PayloadOut int64  `json:"payload_bytes_out"`
	PayloadIn  int64  `json:"payload_bytes_in"`
	IDBytesOut int64  `json:"id_bytes_out"`
	IDBytesIn  int64  `json:"id_bytes_in"`
	Rounds     int    `json:"rounds"`
	HeldBack   int    `json:"held_back"`
	Refused    int    `json:"refused"`
	Complete   bool   `json:"complete"`
	ChunksIn   uint64 `json:"chunks_in"`
	ChunksOut  uint64 `json:"chunks_out"`
	ChunkBytes uint64 `json:"chunk_bytes_in"`
	BlobsError string `json:"blobs_error,omitempty"`
}

func syncJSON(r node.SyncResult) syncResultJSON {
	st := r.Stats
	return syncResultJSON{Peer: r.Peer.String(), Millis: r.Duration.Milliseconds(), Sent: st.Sent, Received: st.Received,
		BytesOut: st.Out.Total(), BytesIn: st.In.Total(), PayloadOut: st.Out.Payload, PayloadIn: st.In.Payload,
		IDBytesOut: st.Out.IDs, IDBytesIn: st.In.IDs, Rounds: st.RoundsIn + st.RoundsOut, HeldBack: r.HeldBack, Refused: r.Refused, Complete: st.Complete,
		ChunksIn: r.Blobs.ChunksIn, ChunksOut: r.Blobs.ChunksOut, ChunkBytes: r.Blobs.BytesIn, BlobsError: errString(r.Blobs.Err)}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// progressLine rewrites one line on stderr while a session runs.
type progressLine struct {
	env   *Env
	shown bool
}

func newProgressLine(env *Env) *progressLine { return &progressLine{env: env} }

func (p *progressLine) show(sp node.SyncProgress) {
	st := sp.Stats
	eta := ""
	if sp.ETA > 0 {
		eta = ", about " + sp.ETA.Round(time.Second).String() + " left"
	}
	fmt.Fprintf(p.env.IO.Err, "\rsync: out %d entries %s, in %d entries %s, %s%s   ",
		st.Sent, humanBytes(st.Out.Total()), st.Received, humanBytes(st.In.Total()), sp.Elapsed.Round(time.Second), eta)
	p.shown = true
}

func (p *progressLine) done() {
	if p.shown {
		fmt.Fprintln(p.env.IO.Err)
	}
}

// nodeCmd is `floe node run`: the daemon.
type nodeCmd struct {
	listen   multiFlag
	interval time.Duration
	verbose  bool
	logFile  string
	daily    bytesFlag
	// Scheduled backups (cli/backup.go).
	backupDir   string
	backupEvery time.Duration
	backupKeep  int
}

func (*nodeCmd) Name() string     { return "node" }
func (*nodeCmd) Synopsis() string { return "run the node: serve peers and sync with them (node run)" }
func (*nodeCmd) Usage() string {
	return `Usage: floe node run [--listen ADDR]... [--interval D] [--daily-bytes N] [--verbose] [--log-file FILE]
                     [--backup-dir FOLDER [--backup-every D] [--backup-keep N]]

Runs the node until interrupted (Ctrl-C) or locked ('floe lock' from
another window: the store closes and the keys are dropped from memory). It listens for sync sessions
from known peers and syncs with every peer that has an address, every
interval (default 5m), backing off while one cannot be reached (the wait
doubles, up to an hour). It logs to stderr, or with --log-file FILE to
a file of JSON lines that rotates at 10 MiB, keeping 5 old files; logs
never hold record content.

--listen sets where to listen; the default, ` + node.DefaultDaemonListen + `, is
this laptop only. To let other laptops on the community network reach
this one, listen on its LAN address, for example
--listen /ip4/0.0.0.0/tcp/7420. Only current members with the network key
can connect. The addresses to give other nodes ('floe peer add') are
printed at start.

--daily-bytes caps what sync may use per day on a metered link (a
number of bytes, or 50MB, 1.5GB: powers of 1000). It is kept on the
node, like the setting on the web app's sync screen (the last one set
wins); 0 removes it. Once the day's budget is spent, sessions still run
but carry only membership changes (revocations first) and urgent
referrals, both ways; the rest waits for the next day. 'floe status'
and the sync screen show what was used.

--backup-dir writes an encrypted backup into FOLDER (a USB drive, say)
every --backup-every (default 24h), keeping this laptop's newest
--backup-keep (default 7); see 'floe backup --help'. A backup that
fails (the drive unplugged, no backup key yet) is logged and tried again
within ten minutes. While it runs, 'floe backup' from another window
has this process write the backup.
`
}
func (c *nodeCmd) Flags(fs *flag.FlagSet) {
	fs.Var(&c.listen, "listen", "a libp2p TCP address to listen on; may repeat")
	fs.Var(&c.daily, "daily-bytes", "the daily sync budget for a metered link (bytes, or 50MB); 0 removes it")
	fs.DurationVar(&c.interval, "interval", 5*time.Minute, "how often to sync with each peer")
	fs.BoolVar(&c.verbose, "verbose", false, "log each step")
	fs.StringVar(&c.logFile, "log-file", "", "log to this file (JSON lines, rotated at 10 MiB, 5 kept) instead of stderr")
	fs.StringVar(&c.backupDir, "backup-dir", "", "write scheduled encrypted backups into this folder")
	fs.DurationVar(&c.backupEvery, "backup-every", 24*time.Hour, "with --backup-dir: how often")
	fs.IntVar(&c.backupKeep, "backup-keep", 7, "with --backup-dir: how many of this laptop's backups to keep")
}
func (c *nodeCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) != 1 || args[0] != "run" {
		return usagef("floe node run", "the only subcommand is run")
	}
	if err := checkBackupFlags(c.backupDir, c.backupEvery, c.backupKeep); err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	log, closeLog, err := daemonLogger(env, c.logFile, level)
	if err != nil {
		return err
	}
	defer closeLog()
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	pass, err := env.Passphrase("Passphrase for "+dir, false)
	if err != nil {
		return err
	}
	opts := nodeOptions()
	opts.Logger = log
	n, err := node.Open(ctx, dir, pass, opts)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	// floe lock (from another window) asks this process to lock.
	var locked atomic.Bool
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if lockRequested(dir) {
					locked.Store(true)
					stop()
					return
				}
			}
		}
	}()
	stopBackups := startBackups(ctx, n, c.backupDir, c.backupEvery, c.backupKeep)
	defer stopBackups()
	var listen []string
	if len(c.listen) > 0 {
		listen = c.listen
	}
	err = n.Run(ctx, node.DaemonOptions{Listen: listen, Interval: c.interval, DailyBytes: c.daily.ptr(),
		Started: func(addrs []string) {
			env.Printf("node %s is running on network %q; peers reach it at:\n", n.ID(), n.Network().Name)
			for _, a := range addrs {
				env.Printf("  %s\n", a)
			}
		}})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	stopBackups()
	if locked.Load() {
		n.Lock()
		clearLockRequest(dir)
		env.Printf("node locked: the store is closed and its keys are dropped from memory; run 'floe node run' and the passphrase to unlock\n")
		return nil
	}
	env.Printf("node stopped\n")
	return nil
}

// writeFileNew writes a file that must not exist yet, readable by its
// owner only.
func writeFileNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; choose another name or remove it first", path)
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// writeFileVia writes path through fill, by way of PATH.part, so a file
// that is there is whole: it refuses a path that exists, syncs, renames
// the part into place, and removes it if anything fails.
func writeFileVia(path string, mode os.FileMode, fill func(io.Writer) error) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; choose another name or remove it first", path)
	}
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// readSmallFile reads a file that must be at most max bytes.
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes; the most expected is %d: is it the right file?", path, st.Size(), max)
	}
	b := make([]byte, st.Size())
	_, err = io.ReadFull(f, b)
	return b, err
}
