package cli

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/floe-north/floe/store"
)

// serviceCmd is `floe service …`: running Floe in the background under
// the computer's service manager (systemd, the Windows service manager,
// launchd), started with the computer and restarted if it fails.
type serviceCmd struct {
	serve, node bool
	user        string
}

// The service's names: the Windows service, the launchd label, and the
// log file a service without a console writes in the node's directory.
const (
	windowsServiceName = "Floe"
	launchdLabel       = "org.floe-north.floe"
	serviceLogName     = "floe-service.log"
)

func (*serviceCmd) Name() string { return "service" }
func (*serviceCmd) Synopsis() string {
	return "run Floe in the background, started with the computer"
}
func (*serviceCmd) Usage() string {
	return `Usage:
  floe service systemd-unit [--serve|--node] [--dir DIR] [--user USER] [--passphrase-file FILE] [-- FLAGS...]
  floe service launchd-plist [--serve|--node] [--dir DIR] [--passphrase-file FILE] [-- FLAGS...]
  floe service install [--serve|--node] [--dir DIR] [--passphrase-file FILE] [-- FLAGS...]
  floe service remove|start|stop|status
  floe service run [--serve|--node] [--dir DIR] [--passphrase-file FILE] [-- FLAGS...]

Runs Floe as a service: in the background, started with the computer,
restarted if it fails. It runs one of two things:

  --serve (the default) runs 'floe serve', the web app at
  http://127.0.0.1:7421/. It starts locked: someone unlocks it in the
  browser with the passphrase, and it syncs with its peers while
  unlocked. No passphrase is stored. For laptops.

  --node runs 'floe node run', the sync daemon, for a hub that runs
  unattended. It needs the passphrase to start, so it reads it from
  --passphrase-file. Anyone who can read that file, or the disk it is
  on, can unlock the node: keep it readable by the service only.

FLAGS after -- go to 'floe serve' or 'floe node run', for example
  floe service systemd-unit --node --passphrase-file /etc/floe/passphrase -- --listen /ip4/0.0.0.0/tcp/7420

DIR (default: --dir, FLOE_DIR, or ~/.floe) must hold a node already.

Linux: 'systemd-unit' prints a systemd unit that runs the service as
USER (default: whoever runs this command; not root). Save it as
/etc/systemd/system/floe.service, then: sudo systemctl daemon-reload;
sudo systemctl enable --now floe. Logs: journalctl -u floe.

Windows, in a Command Prompt opened with "Run as administrator":
'install' installs the Windows service "Floe", which starts with
Windows; 'start', 'stop' and 'status' do what they say, and 'remove'
stops and removes it. It logs to DIR\` + serviceLogName + `.

macOS: 'launchd-plist' prints a launchd agent that runs it while you
are logged in. Save it as ~/Library/LaunchAgents/` + launchdLabel + `.plist,
then: launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/` + launchdLabel + `.plist

'run' is what the service manager starts: the chosen command, which
stops cleanly when the service is stopped. Started by hand it runs in
the foreground.

Step by step: docs/operations.md, "Running Floe as a service".
`
}

func (c *serviceCmd) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.serve, "serve", false, "run the web app, floe serve (the default)")
	fs.BoolVar(&c.node, "node", false, "run the sync daemon, floe node run; needs --passphrase-file")
	fs.StringVar(&c.user, "user", "", "systemd-unit: the user the service runs as (default: you)")
}

func (c *serviceCmd) Run(ctx context.Context, env *Env, args []string) error {
	const hint = "floe service --help"
	if len(args) == 0 {
		return usagef(hint, "want a subcommand: systemd-unit, launchd-plist, install, remove, start, stop, status or run")
	}
	sub, extra := args[0], args[1:]
	switch sub {
	case "remove", "start", "stop", "status":
		if len(extra) > 0 || c.serve || c.node || c.user != "" || env.dir != "" || env.passphraseFile != "" {
			return usagef(hint, "floe service %s takes no flags or arguments: it acts on the installed service", sub)
		}
		return serviceControl(ctx, env, sub)
	case "install":
		// Elsewhere than on Windows this says what to use instead.
		return serviceInstall(ctx, env, c, extra)
	case "systemd-unit", "launchd-plist", "run":
	default:
		return usagef(hint, "unknown subcommand %q", sub)
	}
	if c.user != "" && sub != "systemd-unit" {
		return usagef(hint, "--user is for systemd-unit only")
	}
	spec, err := c.spec(env, extra)
	if err != nil {
		return err
	}
	switch sub {
	case "run":
		return serviceRun(ctx, env, spec)
	}
	exe, err := executable()
	if err != nil {
		return err
	}
	spec.Exe = exe
	var text string
	if sub == "launchd-plist" {
		text, err = launchdPlist(spec)
	} else if spec.User, err = serviceUser(c.user); err == nil {
		text, err = systemdUnit(spec)
	}
	if err != nil {
		return err
	}
	if _, err := io.WriteString(env.Out, text); err != nil {
		return err
	}
	if err := spec.checkNode(); err != nil {
		// A unit for a node made afterwards is fine, but worth a word.
		fmt.Fprintf(env.IO.Err, "note: %v before starting the service\n", err)
	}
	return nil
}

// serviceSpec is what a service runs: floe serve or floe node run, on a
// node's directory. Every path is absolute: a service manager starts
// programs in a directory of its own.
type serviceSpec struct {
	Exe      string   // the floe binary
	Mode     string   // "serve" or "node"
	Dir      string   // the node's directory
	PassFile string   // the passphrase file (node only)
	Extra    []string // flags for floe serve or floe node run
	User     string   // systemd: the user to run as
}

// spec reads the mode, the directory, the passphrase file and the extra
// flags, and checks them.
func (c *serviceCmd) spec(env *Env, extra []string) (serviceSpec, error) {
	const hint = "floe service --help"
	s := serviceSpec{Mode: "serve", Extra: extra}
	switch {
	case c.serve && c.node:
		return s, usagef(hint, "give --serve or --node, not both")
	case c.node:
		s.Mode = "node"
		if env.passphraseFile == "" {
			return s, usagef(hint, "--node needs --passphrase-file: a service has nobody to type the passphrase (or use --serve, which is unlocked in the browser)")
		}
	case env.passphraseFile != "":
		return s, usagef(hint, "--serve stores no passphrase: it is unlocked in the browser; --passphrase-file is for --node")
	}
	dir, err := env.Dir()
	if err != nil {
		return s, err
	}
	if s.Dir, err = filepath.Abs(dir); err != nil {
		return s, err
	}
	if env.passphraseFile != "" {
		if s.PassFile, err = filepath.Abs(env.passphraseFile); err != nil {
			return s, err
		}
	}
	if err := checkModeFlags(s.Mode, extra); err != nil {
		return s, err
	}
	return s, nil
}

// checkModeFlags checks the flags after -- against floe serve's or floe
// node run's own, so that a mistake shows now rather than in a log when
// the service starts.
func checkModeFlags(mode string, extra []string) error {
	var c command = &serveCmd{}
	name := "floe serve"
	if mode == "node" {
		c, name = &nodeCmd{}, "floe node run"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.Flags(fs)
	if err := fs.Parse(extra); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			err = errors.New("-help is not for a service")
		}
		return usagef("flags after -- are those of '"+name+" --help' (--dir and --passphrase-file go before the --)", "after --: %v", err)
	}
	if fs.NArg() > 0 {
		return usagef("flags after -- are those of '"+name+" --help'", "after --: %q is not a flag of %s", fs.Arg(0), name)
	}
	return nil
}

// checkNode reports whether the directory holds a node, and the
// passphrase file is there.
func (s serviceSpec) checkNode() error {
	if _, err := os.Stat(filepath.Join(s.Dir, store.KeyFileName)); err != nil {
		return fmt.Errorf("no Floe node in %s: run 'floe init --dir %s' (as the user the service runs as)", s.Dir, shellQuote(s.Dir))
	}
	if s.PassFile != "" {
		if _, err := os.Stat(s.PassFile); err != nil {
			return fmt.Errorf("the passphrase file %s is not there: write it first (docs/operations.md, \"Running Floe as a service\")", s.PassFile)
		}
	}
	return nil
}

// modeArgs is the floe command line (without the binary) the service
// runs: floe serve or floe node run, with the directory, the passphrase
// file and the extra flags.
func (s serviceSpec) modeArgs() []string {
	a := []string{"serve"}
	if s.Mode == "node" {
		a = []string{"node", "run"}
	}
	a = append(a, "--dir", s.Dir)
	if s.PassFile != "" {
		a = append(a, "--passphrase-file", s.PassFile)
	}
	return append(a, s.Extra...)
}

// runArgs is the command line (without the binary) a service manager
// starts: floe service run, which runs modeArgs and stops cleanly when the
// service is stopped.
func (s serviceSpec) runArgs() []string {
	a := []string{"service", "run", "--" + s.Mode, "--dir", s.Dir}
	if s.PassFile != "" {
		a = append(a, "--passphrase-file", s.PassFile)
	}
	if len(s.Extra) > 0 {
		a = append(append(a, "--"), s.Extra...)
	}
	return a
}

func (s serviceSpec) describe() string {
	if s.Mode == "node" {
		return "floe node run (the sync daemon, unlocked by " + s.PassFile + ")"
	}
	return "floe serve (the web app at http://127.0.0.1:7421/, unlocked in the browser)"
}

// runServiceMode runs the chosen command until ctx ends. Standard input
// is empty: a service has nobody at a keyboard.
func runServiceMode(ctx context.Context, stdio IO, s serviceSpec) error {
	stdio.In = strings.NewReader("")
	stdio.IsTerminal = func() bool { return false }
	a := s.modeArgs()
	c := find(a[0])
	if c == nil {
		return fmt.Errorf("no command %q", a[0])
	}
	return runCommand(ctx, c, a[1:], stdio)
}

// runServiceForeground is floe service run outside the Windows service
// manager: under launchd, or by hand. It stops cleanly on SIGTERM, the
// signal launchd and systemd stop a service with, as on Ctrl-C.
func runServiceForeground(ctx context.Context, env *Env, s serviceSpec) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runServiceMode(ctx, env.IO, s)
}

// executable is the absolute path of the running floe binary, which the
// service will start.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot tell where the floe program is: %w", err)
	}
	if e, err := filepath.EvalSymlinks(exe); err == nil {
		exe = e
	}
	return filepath.Abs(exe)
}

// unsafeServicePath reports a path a service definition should not
// carry: quotes, backslashes (on Unix) and control characters have no
// safe spelling in all of a unit file, a plist and a Windows command line.
func unsafeServicePath(p string, windows bool) error {
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' || (!windows && r == '\\') {
			return fmt.Errorf("the path %q holds a character a service definition cannot carry safely (a quote, a backslash or a control character); use another folder", p)
		}
	}
	return nil
}

func (s serviceSpec) checkPaths(windows bool) error {
	for _, p := range []string{s.Exe, s.Dir, s.PassFile} {
		if err := unsafeServicePath(p, windows); err != nil {
			return err
		}
	}
	for _, a := range s.Extra {
		if err := unsafeServicePath(a, windows); err != nil {
			return err
		}
	}
	return nil
}

var systemdUserName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// serviceUser is the user a systemd service runs as: --user, or whoever
// runs the command, but not root.
func serviceUser(given string) (string, error) {
	name := given
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = os.Getenv("USER")
		}
		if name == "" || name == "root" {
			return "", usagef("run it without sudo, as the user who owns the node, or give --user and --dir",
				"give --user USER: the service should not run as root")
		}
	}
	if !systemdUserName.MatchString(name) {
		return "", usagef("floe service --help", "%q is not a user name systemd accepts", name)
	}
	return name, nil
}

// systemdQuote writes one ExecStart= word: quoted if it holds anything
// but plain characters, with systemd's specifier (%) and variable ($)
// characters escaped. Quotes and backslashes are refused before.
func systemdQuote(s string, execStart bool) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if execStart {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%$", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + s + `"`
}

// shellQuote quotes a word for a shell command shown in a comment.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// systemdUnit is a systemd unit that runs the service as s.User.
func systemdUnit(s serviceSpec) (string, error) {
	if err := s.checkPaths(false); err != nil {
		return "", err
	}
	words := []string{systemdQuote(s.Exe, true)}
	for _, a := range s.modeArgs() {
		words = append(words, systemdQuote(a, true))
	}
	desc := "Floe web app on http://127.0.0.1:7421/ (starts locked)"
	if s.Mode == "node" {
		desc = "Floe sync node"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Floe as a service, written by 'floe service systemd-unit'.
# Save it as /etc/systemd/system/floe.service, then:
#   sudo systemctl daemon-reload
#   sudo systemctl enable --now floe
#   systemctl status floe
#   journalctl -u floe
# Step by step: docs/operations.md, "Running Floe as a service".
`)
	if s.Mode == "node" {
		fmt.Fprintf(&b, `# The passphrase file must be readable by %s and nobody else:
#   sudo chown %s %s && sudo chmod 400 %s
`, s.User, s.User, shellQuote(s.PassFile), shellQuote(s.PassFile))
	}
	fmt.Fprintf(&b, `
[Unit]
Description=%s
Documentation=https://github.com/floe-north/floe/blob/main/docs/operations.md
After=network.target

[Service]
Type=simple
User=%s
ExecStart=%s
# floe closes the store cleanly on SIGINT, as on Ctrl-C.
KillSignal=SIGINT
TimeoutStopSec=60
Restart=on-failure
RestartSec=10
UMask=0077
# Floe writes to its directory only.
NoNewPrivileges=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=%s
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
`, desc, s.User, strings.Join(words, " "), systemdQuote(s.Dir, false))
	return b.String(), nil
}

// launchdPlist is a launchd agent for macOS that runs floe service run
// while its user is logged in, logging to the node's directory.
func launchdPlist(s serviceSpec) (string, error) {
	if err := s.checkPaths(false); err != nil {
		return "", err
	}
	esc := func(v string) string {
		var b strings.Builder
		xml.EscapeText(&b, []byte(v))
		return b.String()
	}
	var args strings.Builder
	for _, a := range append([]string{s.Exe}, s.runArgs()...) {
		fmt.Fprintf(&args, "\t\t<string>%s</string>\n", esc(a))
	}
	logPath := esc(filepath.Join(s.Dir, serviceLogName))
	// No two hyphens in a row inside the comment: XML forbids them there.
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Floe as a launchd agent, written by 'floe service launchd-plist'.
     Save it as ~/Library/LaunchAgents/%s.plist, then:
       launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/%s.plist
     Step by step: docs/operations.md, "Running Floe as a service". -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>%s</string>
	<key>ProgramArguments</key>
	<array>
%s	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>10</integer>
	<key>ExitTimeOut</key>
	<integer>60</integer>
	<key>Umask</key>
	<integer>63</integer>
	<key>StandardOutPath</key>
	<string>%s</string>
	<key>StandardErrorPath</key>
	<string>%s</string>
</dict>
</plist>
`, launchdLabel, launchdLabel, launchdLabel, args.String(), logPath, logPath), nil
}

// windowsCommandLine is the command line the Windows service manager
// starts: the binary, always quoted (an unquoted path with a space is
// read as a shorter program's path), then each argument quoted as
// Windows programs, Go's among them, split their command line.
func windowsCommandLine(exe string, args []string) string {
	var b strings.Builder
	b.WriteString(`"` + exe + `"`)
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(windowsQuote(a))
	}
	return b.String()
}

// windowsQuote quotes one argument: in quotes if it is empty or holds a
// space or tab; backslashes doubled where they come before a quote; each
// quote escaped.
func windowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s // backslashes alone mean themselves
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	// Backslashes before the closing quote are doubled, or they would
	// escape it.
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

// splitWindowsCommandLine splits a command line as Windows programs do
// (Go's os.Args on Windows among them): what floe service status reads
// back from the service manager.
func splitWindowsCommandLine(cmd string) []string {
	var args []string
	for len(cmd) > 0 {
		if cmd[0] == ' ' || cmd[0] == '\t' {
			cmd = cmd[1:]
			continue
		}
		var b []byte
		inQuote, slashes := false, 0
		for ; len(cmd) > 0; cmd = cmd[1:] {
			c := cmd[0]
			if (c == ' ' || c == '\t') && !inQuote {
				break
			}
			switch c {
			case '\\':
				slashes++
				continue
			case '"':
				b = append(b, strings.Repeat(`\`, slashes/2)...)
				if slashes%2 == 1 {
					b = append(b, '"')
				} else if inQuote && len(cmd) > 1 && cmd[1] == '"' {
					b = append(b, '"')
					cmd = cmd[1:]
					inQuote = false
				} else {
					inQuote = !inQuote
				}
				slashes = 0
				continue
			}
			b = append(b, strings.Repeat(`\`, slashes)...)
			slashes = 0
			b = append(b, c)
		}
		b = append(b, strings.Repeat(`\`, slashes)...)
		args = append(args, string(b))
	}
	return args
}

// flagValue finds --name VALUE (or --name=VALUE) in a command line.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		t := strings.TrimLeft(a, "-")
		if t == name && a != t && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(t, name+"="); ok && a != t {
			return v
		}
	}
	return ""
}

// openServiceLog opens the log of a service that has no console, in the
// node's directory, for appending. A log over maxLog bytes is moved to
// NAME.old first (replacing the one before), so it cannot fill the disk.
func openServiceLog(dir string, maxLog int64) (*os.File, error) {
	path := filepath.Join(dir, serviceLogName)
	if st, err := os.Stat(path); err == nil && st.Size() > maxLog {
		os.Remove(path + ".old")
		os.Rename(path, path+".old")
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// maxServiceLog is the size at which a service's log is started afresh.
const maxServiceLog = 8 << 20

// notForThisSystem is what the Windows-only subcommands say elsewhere:
// what to use instead, on this system.
func notForThisSystem(sub, goos string) error {
	var how string
	switch goos {
	case "darwin":
		how = map[string]string{
			"install": "on macOS use launchd: floe service launchd-plist",
			"remove":  "on macOS: launchctl bootout gui/$(id -u)/" + launchdLabel + ", then delete ~/Library/LaunchAgents/" + launchdLabel + ".plist",
			"start":   "on macOS: launchctl kickstart gui/$(id -u)/" + launchdLabel,
			"stop":    "on macOS: launchctl kill SIGTERM gui/$(id -u)/" + launchdLabel,
			"status":  "on macOS: launchctl print gui/$(id -u)/" + launchdLabel,
		}[sub]
	default:
		how = map[string]string{
			"install": "on Linux use systemd: floe service systemd-unit",
			"remove":  "on Linux: sudo systemctl disable --now floe, then sudo rm /etc/systemd/system/floe.service",
			"start":   "on Linux: sudo systemctl start floe",
			"stop":    "on Linux: sudo systemctl stop floe",
			"status":  "on Linux: systemctl status floe, and journalctl -u floe for its log",
		}[sub]
	}
	return fmt.Errorf("floe service %s is for Windows; %s (docs/operations.md, \"Running Floe as a service\")", sub, how)
}
