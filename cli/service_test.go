package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The systemd unit runs the chosen command as the given user, with every
// path quoted where it has a space and systemd's % and $ escaped, and the
// hardening and restart settings the operations guide describes.
func TestSystemdUnit(t *testing.T) {
	s := serviceSpec{Exe: "/opt/floe tools/floe", Mode: "serve", Dir: "/srv/floe/50% of $HOME/node", User: "floe"}
	unit, err := systemdUnit(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nUser=floe\n",
		"\nExecStart=\"/opt/floe tools/floe\" serve --dir \"/srv/floe/50%% of $$HOME/node\"\n",
		"\nReadWritePaths=\"/srv/floe/50%% of $HOME/node\"\n",
		"\nKillSignal=SIGINT\n", "\nRestart=on-failure\n", "\nNoNewPrivileges=yes\n",
		"\nProtectSystem=strict\n", "\nPrivateTmp=yes\n", "\nUMask=0077\n",
		"\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "passphrase") {
		t.Errorf("a --serve unit names a passphrase file:\n%s", unit)
	}

	// Plain paths stay unquoted; the node runs unlocked by its file, and
	// the flags after -- follow.
	s = serviceSpec{Exe: "/usr/local/bin/floe", Mode: "node", Dir: "/var/lib/floe", PassFile: "/etc/floe/pass phrase",
		Extra: []string{"--listen", "/ip4/0.0.0.0/tcp/7420"}, User: "floe"}
	if unit, err = systemdUnit(s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nExecStart=/usr/local/bin/floe node run --dir /var/lib/floe --passphrase-file \"/etc/floe/pass phrase\" --listen /ip4/0.0.0.0/tcp/7420\n",
		"\nReadWritePaths=/var/lib/floe\n",
		"sudo chown floe '/etc/floe/pass phrase' && sudo chmod 400 '/etc/floe/pass phrase'",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q:\n%s", want, unit)
		}
	}

	for _, bad := range []string{`/srv/a"b`, `/srv/a\b`, "/srv/a\nExecStartPre=/bin/sh"} {
		if _, err := systemdUnit(serviceSpec{Exe: "/usr/bin/floe", Mode: "serve", Dir: bad, User: "floe"}); err == nil {
			t.Errorf("a unit for the directory %q was written", bad)
		}
	}
}

func TestServiceUser(t *testing.T) {
	if u, err := serviceUser("floe-hub"); err != nil || u != "floe-hub" {
		t.Fatalf("serviceUser(floe-hub) = %q, %v", u, err)
	}
	for _, bad := range []string{"ana lee", "a;b", "-x"} {
		if _, err := serviceUser(bad); err == nil {
			t.Errorf("the user %q was taken", bad)
		}
	}
}

// The launchd plist is well-formed XML whose program arguments are the
// binary and floe service run, with paths as they are (spaces and all)
// and & escaped.
func TestLaunchdPlist(t *testing.T) {
	s := serviceSpec{Exe: "/Applications/Floe Tools/floe", Mode: "serve", Dir: "/Users/Ana Lee/Floe & co/node",
		Extra: []string{"--lan", ":7422"}}
	text, err := launchdPlist(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "<string>/Users/Ana Lee/Floe &amp; co/node</string>") {
		t.Errorf("the directory is not escaped as it should be:\n%s", text)
	}
	var inArray bool
	var got, strs []string
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the plist is not well-formed XML: %v\n%s", err, text)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "array" {
				inArray = true
			}
			if tok.Name.Local == "string" {
				var v string
				if err := dec.DecodeElement(&v, &tok); err != nil {
					t.Fatal(err)
				}
				if inArray {
					got = append(got, v)
				}
				strs = append(strs, v)
			}
		case xml.EndElement:
			if tok.Name.Local == "array" {
				inArray = false
			}
		}
	}
	want := []string{"/Applications/Floe Tools/floe", "service", "run", "--serve", "--dir", "/Users/Ana Lee/Floe & co/node", "--", "--lan", ":7422"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ProgramArguments = %q, want %q", got, want)
	}
	if !contains(strs, launchdLabel) || !contains(strs, "/Users/Ana Lee/Floe & co/node/"+serviceLogName) {
		t.Errorf("the plist lacks its label or its log: %q", strs)
	}
}

// Windows programs split their command line by rules of their own; the
// service's command line, split by them, gives back every argument.
func TestWindowsCommandLine(t *testing.T) {
	args := []string{"service", "run", "--node", "--dir", `C:\Users\Ana Lee\.floe`, "--passphrase-file", `C:\Floe Data\`,
		"--", "--listen", "/ip4/0.0.0.0/tcp/7420"}
	got := windowsCommandLine(`C:\Program Files\Floe\floe.exe`, args)
	want := `"C:\Program Files\Floe\floe.exe" service run --node --dir "C:\Users\Ana Lee\.floe" --passphrase-file "C:\Floe Data\\" -- --listen /ip4/0.0.0.0/tcp/7420`
	if got != want {
		t.Fatalf("command line\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct{ in, out string }{
		{`C:\floe\node`, `C:\floe\node`},
		{``, `""`},
		{`a b`, `"a b"`},
		{`a"b`, `"a\"b"`},
		{`a\"b`, `"a\\\"b"`},
		{`C:\x y\\`, `"C:\x y\\\\"`},
		{"tab\there", "\"tab\there\""},
	} {
		if q := windowsQuote(c.in); q != c.out {
			t.Errorf("windowsQuote(%q) = %s, want %s", c.in, q, c.out)
		}
	}
	// Round trips, through tricky arguments and every short string of
	// the characters that matter.
	tricky := []string{"", " ", `\`, `\\`, `"`, `\"`, `"\`, `a\\\"b`, `C:\Program Files\`, `x "y" z`, "\t", `\\server\share\floe node`}
	alphabet := []string{"a", " ", `\`, `"`}
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		tricky = append(tricky, prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+c, n-1)
		}
	}
	gen("", 5)
	for _, a := range tricky {
		line := windowsCommandLine(`C:\Program Files\Floe\floe.exe`, []string{"--dir", a, "end"})
		back := splitWindowsCommandLine(line)
		if want := []string{`C:\Program Files\Floe\floe.exe`, "--dir", a, "end"}; !reflect.DeepEqual(back, want) {
			t.Fatalf("%q: the command line %s splits into %q", a, line, back)
		}
	}
}

// The splitter follows the rules Microsoft documents for C programs
// ("Parsing C++ command-line arguments"), as Go reads os.Args on Windows.
func TestSplitWindowsCommandLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`"a b c" d e`, []string{"a b c", "d", "e"}},
		{`"ab\"c" "\\" d`, []string{`ab"c`, `\`, "d"}},
		{`a\\\b d"e f"g h`, []string{`a\\\b`, "de fg", "h"}},
		{`a\\\"b c d`, []string{`a\"b`, "c", "d"}},
		{`a\\\\"b c" d e`, []string{`a\\b c`, "d", "e"}},
		// A doubled quote inside quotes: Go (and C programs before
		// 2008) read a quote and end the quoting; windowsQuote never
		// writes one.
		{`a"b"" c d`, []string{`ab"`, "c", "d"}},
		{"  x\t y  ", []string{"x", "y"}},
	} {
		if got := splitWindowsCommandLine(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("split(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

// What the service manager is given parses back, through floe's own
// flags, into what was asked for.
func TestServiceRunArgsParseBack(t *testing.T) {
	s := serviceSpec{Mode: "node", Dir: "/var/lib/floe node", PassFile: "/etc/floe/pass phrase",
		Extra: []string{"--listen", "/ip4/0.0.0.0/tcp/7420", "--interval", "10m"}}
	line := windowsCommandLine("/usr/local/bin/floe", s.runArgs())
	args := splitWindowsCommandLine(line)[1:]
	if args[0] != "service" {
		t.Fatalf("the command line %s does not run floe service", line)
	}
	c := &serviceCmd{}
	env := &Env{}
	fs := flag.NewFlagSet("floe service", flag.ContinueOnError)
	env.register(fs)
	c.Flags(fs)
	if err := fs.Parse(interleave(fs, args[1:])); err != nil {
		t.Fatal(err)
	}
	rest := fs.Args()
	if !c.node || c.serve || env.dir != s.Dir || env.passphraseFile != s.PassFile || rest[0] != "run" || !reflect.DeepEqual(rest[1:], s.Extra) {
		t.Fatalf("parsed back: node=%v serve=%v dir=%q pass=%q args=%q", c.node, c.serve, env.dir, env.passphraseFile, rest)
	}
	if got := flagValue(args, "dir"); got != s.Dir {
		t.Fatalf("flagValue(dir) = %q", got)
	}
	if got := flagValue([]string{"--dir=/a b", "x"}, "dir"); got != "/a b" {
		t.Fatalf("flagValue(--dir=) = %q", got)
	}
	if got := flagValue([]string{"run", "--", "--dir", "/x"}, "dir"); got != "" {
		t.Fatalf("flagValue took a flag after --: %q", got)
	}
	want := []string{"node", "run", "--dir", s.Dir, "--passphrase-file", s.PassFile, "--listen", "/ip4/0.0.0.0/tcp/7420", "--interval", "10m"}
	if got := s.modeArgs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("modeArgs = %q", got)
	}
}

// Away from Windows, the Windows subcommands say what to use instead,
// on one line, and change nothing.
func TestServiceInstallElsewhere(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows, floe service install installs")
	}
	c := newCLI(t)
	want := "floe service install is for Windows; on Linux use systemd: floe service systemd-unit"
	if runtime.GOOS == "darwin" {
		want = "floe service install is for Windows; on macOS use launchd: floe service launchd-plist"
	}
	c.fails(ExitError, want, "service", "install")
	c.fails(ExitError, want, "service", "install", "--node", "--dir", "/nowhere")
	c.fails(ExitError, "floe service status is for Windows", "service", "status")
	for _, sub := range []string{"remove", "start", "stop", "status"} {
		if err := notForThisSystem(sub, "linux"); !strings.Contains(err.Error(), "systemctl") {
			t.Errorf("on Linux, %s says: %v", sub, err)
		}
		if err := notForThisSystem(sub, "darwin"); !strings.Contains(err.Error(), "launchctl") {
			t.Errorf("on macOS, %s says: %v", sub, err)
		}
	}
	if err := notForThisSystem("install", "darwin"); !strings.Contains(err.Error(), "floe service launchd-plist") {
		t.Errorf("on macOS, install says: %v", err)
	}
}

func TestServiceCommandLine(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	dir := c.env["FLOE_DIR"]
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("correct horse battery\n"), 0o600)
	c.fails(ExitUsage, "want a subcommand", "service")
	c.fails(ExitUsage, "unknown subcommand", "service", "frobnicate")
	c.fails(ExitUsage, "not both", "service", "systemd-unit", "--serve", "--node", "--passphrase-file", pass, "--user", "floe")
	c.fails(ExitUsage, "--node needs --passphrase-file", "service", "systemd-unit", "--node", "--user", "floe")
	c.fails(ExitUsage, "--passphrase-file is for --node", "service", "systemd-unit", "--passphrase-file", pass, "--user", "floe")
	c.fails(ExitUsage, "flag provided but not defined", "service", "systemd-unit", "--user", "floe", "--", "--bogus")
	c.fails(ExitUsage, "is not a flag of floe node run", "service", "systemd-unit", "--node", "--passphrase-file", pass, "--user", "floe", "--", "stray")
	c.fails(ExitUsage, "--user is for systemd-unit only", "service", "launchd-plist", "--user", "floe")
	c.fails(ExitUsage, "takes no flags", "service", "status", "--node")

	out := c.ok("service", "systemd-unit", "--user", "floe", "--", "--lan", ":7422", "--daily-bytes", "50MB")
	if !strings.Contains(out, " serve --dir "+systemdQuote(dir, true)+" --lan :7422 --daily-bytes 50MB\n") {
		t.Errorf("systemd-unit:\n%s", out)
	}
	out = c.ok("service", "launchd-plist", "--node", "--passphrase-file", pass)
	if !strings.Contains(out, "<string>"+pass+"</string>") || !strings.Contains(out, "<string>--node</string>") {
		t.Errorf("launchd-plist:\n%s", out)
	}
	// Printing a unit for a directory without a node yet is allowed,
	// with a word about it.
	r := c.run("service", "systemd-unit", "--user", "floe", "--dir", filepath.Join(t.TempDir(), "later"))
	if r.code != 0 || !strings.Contains(r.err, "no Floe node") {
		t.Errorf("a unit for a node to come: %+v", r)
	}
}

// floe service run runs the node until it is told to stop (the
// service manager's stop, here the context), then closes the store
// cleanly: the seal a clean shutdown leaves is there.
func TestServiceRunStopsCleanly(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	dir := c.env["FLOE_DIR"]
	pass := filepath.Join(t.TempDir(), "pass phrase")
	os.WriteFile(pass, []byte("correct horse battery\n"), 0o600)
	os.Remove(filepath.Join(dir, "data.seal"))
	delete(c.env, "FLOE_PASSPHRASE") // the file alone unlocks it
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"service", "run", "--node", "--passphrase-file", pass, "--", "--listen", "/ip4/127.0.0.1/tcp/0"},
			IO{In: strings.NewReader(""), Out: &out, Err: &out, Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "is running") {
		select {
		case code := <-done:
			t.Fatalf("floe service run ended with %d:\n%s", code, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("floe service run did not start:\n%s", out.String())
		}
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("floe service run stopped with %d:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("floe service run did not stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "data.seal")); err != nil {
		t.Fatalf("the store was not closed cleanly: %v\n%s", err, out.String())
	}
}

// The service's log starts afresh past its limit, keeping one old one.
func TestServiceLogRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, serviceLogName)
	os.WriteFile(path, bytes.Repeat([]byte("x"), 100), 0o600)
	f, err := openServiceLog(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more\n")
	f.Close()
	if b, _ := os.ReadFile(path); len(b) != 105 {
		t.Fatalf("a log under the limit was not appended to: %d bytes", len(b))
	}
	f, err = openServiceLog(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("fresh\n")
	f.Close()
	if b, _ := os.ReadFile(path); string(b) != "fresh\n" {
		t.Fatalf("the log was not started afresh: %q", b)
	}
	if b, _ := os.ReadFile(path + ".old"); len(b) != 105 {
		t.Fatalf("the old log was not kept: %d bytes", len(b))
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
