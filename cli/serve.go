package cli

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/httpapi"
)

type serveCmd struct {
	// Scheduled backups while unlocked (cli/backup.go).
	backupDir   string
	backupEvery time.Duration
	backupKeep  int
	logFile     string
	addr        string
	lan         string
	idle        time.Duration
	sync        bool
	listen      multiFlag
	interval    time.Duration
	daily       bytesFlag
}

func (*serveCmd) Name() string     { return "serve" }
func (*serveCmd) Synopsis() string { return "serve the local HTTP API (starts locked)" }
func (*serveCmd) Usage() string {
	return `Usage: floe serve [--http ADDR] [--lan ADDR] [--idle-lock D] [--sync=false]
                  [--listen ADDR]... [--interval D] [--daily-bytes N]
                  [--backup-dir FOLDER [--backup-every D] [--backup-keep N]]
                  [--log-file FILE] [--dir DIR]

Serves the node's web app (docs/webapp.md) and HTTP API (docs/api.md) on
this laptop only, until interrupted: open http://127.0.0.1:7421/ in a
browser. It starts locked and needs no passphrase to start: a client
unlocks it with the passphrase (POST /api/v1/unlock) and gets a session
token. After --idle-lock (default 5m) with no request the node locks
itself: the store closes, the keys are dropped, and the token stops
working. 'floe lock' does not reach it; POST /api/v1/lock does.

--http (default ` + httpapi.DefaultAddr + `) must be a loopback address: phones use
--lan.

--lan ADDR (for example :7422, or this laptop's Wi-Fi address with a
port) also serves the API, and only the API, to paired phones over HTTPS
(TLS 1.3, with a certificate each phone pins by its fingerprint). Pair a
phone on the Phones screen (/pairing). Phones connect only after the
laptop has been unlocked once, and work only while it is unlocked.

While unlocked, the node also syncs with its peers as 'floe node run'
does (--listen and --interval mean the same there; --daily-bytes is
set at the first unlock, and the sync screen can change it after); the
web app's sync screen shows each peer and today's use of the budget.
Locking stops sync with the rest. --sync=false leaves sync to 'floe
sync' or a 'floe node run' started when the app is not running (only
one program at a time can open a node).

While unlocked it also writes the backups 'floe backup' asks for from
another window, and with --backup-dir a scheduled encrypted backup
every --backup-every (default 24h), keeping this laptop's newest
--backup-keep (default 7), as 'floe node run' does.

It logs to stderr, or with --log-file FILE to a file of JSON lines that
rotates at 10 MiB, keeping 5 old files (FILE.1 to FILE.5): what a
service wants. Logs never hold record content.
`
}
func (c *serveCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "http", httpapi.DefaultAddr, "where to listen (loopback only)")
	fs.StringVar(&c.lan, "lan", "", "also serve paired phones here over HTTPS, e.g. "+httpapi.DefaultLANAddr+" (off unless given)")
	fs.DurationVar(&c.idle, "idle-lock", httpapi.DefaultIdleLock, "lock the node after this long with no request")
	fs.BoolVar(&c.sync, "sync", true, "sync with peers while unlocked")
	fs.StringVar(&c.backupDir, "backup-dir", "", "write scheduled encrypted backups into this folder while unlocked")
	fs.DurationVar(&c.backupEvery, "backup-every", 24*time.Hour, "with --backup-dir: how often")
	fs.IntVar(&c.backupKeep, "backup-keep", 7, "with --backup-dir: how many of this laptop's backups to keep")
	fs.StringVar(&c.logFile, "log-file", "", "log to this file (JSON lines, rotated at 10 MiB, 5 kept) instead of stderr")
	fs.Var(&c.listen, "listen", "sync: a libp2p TCP address to listen on; may repeat (default "+node.DefaultDaemonListen+")")
	fs.DurationVar(&c.interval, "interval", 5*time.Minute, "sync: how often to sync with each peer")
	fs.Var(&c.daily, "daily-bytes", "sync: the daily budget for a metered link (bytes, or 50MB); 0 removes it")
}
func (c *serveCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "serve"); err != nil {
		return err
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return errors.New("no Floe node in " + dir + "; run 'floe init'")
	}
	opts := nodeOptions()
	log, closeLog, err := daemonLogger(env, c.logFile, slog.LevelInfo)
	if err != nil {
		return err
	}
	defer closeLog()
	opts.Logger = log
	if err := checkBackupFlags(c.backupDir, c.backupEvery, c.backupKeep); err != nil {
		return err
	}
	cfg := httpapi.Config{Dir: dir, Options: opts, IdleLock: c.idle, Logger: opts.Logger}
	if c.backupDir != "" {
		cfg.Backups = &node.BackupSchedule{Dir: c.backupDir, Every: c.backupEvery, Keep: c.backupKeep}
	}
	if c.sync {
		d := &node.DaemonOptions{Interval: c.interval, DailyBytes: c.daily.ptr()}
		if len(c.listen) > 0 {
			d.Listen = c.listen
		}
		cfg.Sync = d
	} else if c.daily.set {
		return usagef("floe serve", "--daily-bytes needs sync (drop --sync=false)")
	}
	s := httpapi.New(cfg)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	serve := func(ctx context.Context) error {
		return s.Serve(ctx, c.addr, func(url string) {
			env.Printf("serving %s: open %s/ in a browser on this laptop to unlock it (the API is at %s/api/v1/)\n", dir, url, url)
		})
	}
	if c.lan == "" {
		return serve(ctx)
	}
	lanAddr := c.lan
	if _, _, err := net.SplitHostPort(lanAddr); err != nil {
		lanAddr = net.JoinHostPort(lanAddr, "7422") // an address without a port
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lanErr := make(chan error, 1)
	go func() {
		err := s.ServeLAN(ctx, lanAddr, func(url, fp string) {
			if fp == "" {
				fp = "shown on the Phones screen (/pairing) once this laptop is unlocked"
			}
			env.Printf("serving paired phones at %s (certificate fingerprint: %s)\n", url, fp)
		})
		if err != nil {
			// A LAN port in use stops floe serve rather than running
			// without the phones someone expects to work.
			cancel()
		}
		lanErr <- err
	}()
	err = serve(ctx)
	cancel()
	if lerr := <-lanErr; err == nil {
		err = lerr
	}
	return err
}
