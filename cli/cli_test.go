package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

func init() {
	nodeOptions = func() node.Options {
		return node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}}
	}
}

type run struct {
	code     int
	out, err string
}

type cliEnv struct {
	t   *testing.T
	env map[string]string
}

func newCLI(t *testing.T) *cliEnv {
	dir := filepath.Join(t.TempDir(), "node")
	return &cliEnv{t: t, env: map[string]string{"FLOE_DIR": dir, "FLOE_PASSPHRASE": "correct horse battery"}}
}

func (c *cliEnv) runIn(stdin string, args ...string) run {
	c.t.Helper()
	var out, errb bytes.Buffer
	io := IO{In: strings.NewReader(stdin), Out: &out, Err: &errb,
		Getenv:     func(k string) string { return c.env[k] },
		IsTerminal: func() bool { return false }}
	code := Main(context.Background(), args, io)
	return run{code, out.String(), errb.String()}
}

func (c *cliEnv) run(args ...string) run { c.t.Helper(); return c.runIn("", args...) }

func (c *cliEnv) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("floe %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

func (c *cliEnv) fails(code int, want string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code || !strings.Contains(r.err, want) {
		c.t.Fatalf("floe %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), r.code, r.err, code, want)
	}
	if code == ExitError && strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		c.t.Fatalf("floe %s: the error should be one line, got %q", strings.Join(args, " "), r.err)
	}
}

func TestHelpEverywhere(t *testing.T) {
	c := newCLI(t)
	if r := c.run(); r.code != ExitUsage || !strings.Contains(r.err, "Commands:") {
		t.Fatalf("no arguments: %+v", r)
	}
	top := c.ok("--help")
	for _, cmd := range commands() {
		if !strings.Contains(top, cmd.Name()) {
			t.Errorf("--help does not list %s", cmd.Name())
		}
		if out := c.ok(cmd.Name(), "--help"); !strings.Contains(out, "Usage") {
			t.Errorf("floe %s --help: %q", cmd.Name(), out)
		}
	}
	c.fails(ExitUsage, "unknown command", "frobnicate")
	c.fails(ExitUsage, "unknown subcommand", "dir", "frobnicate")
	c.fails(ExitUsage, "flag provided but not defined", "status", "--nope")
}

func TestInitAndDirectoryByCLI(t *testing.T) {
	c := newCLI(t)
	c.fails(ExitError, "no Floe node", "status")
	out := c.ok("init", "--json")
	var ini map[string]string
	if err := json.Unmarshal([]byte(out), &ini); err != nil || !strings.HasPrefix(ini["node_id"], "dev:") {
		t.Fatalf("init --json: %q", out)
	}
	c.fails(ExitError, "already holds a Floe node", "init")

	id := strings.TrimSpace(c.ok("dir", "add", "name=Kamatsiaqtut Help Line", "kind=hotline", "phone=1-800-265-3333", "languages=en,iu", "hours=24/7"))
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("dir add printed %q, want the record ID", id)
	}
	c.ok("dir", "set", id[:6], "hours=around the clock", "name/fr=Ligne d'écoute Kamatsiaqtut")
	var rec node.Record
	if err := json.Unmarshal([]byte(c.ok("dir", "show", id[:8], "--json")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.ID != id || rec.Get("hours") != "around the clock" || rec.Get("name/fr") != "Ligne d'écoute Kamatsiaqtut" {
		t.Fatalf("show --json: %+v", rec)
	}
	for _, f := range rec.Fields {
		if f.Path == "hours" && (f.Current == nil || f.Current.Hash == "") {
			t.Fatalf("show --json should give who wrote each value and its hash: %+v", f)
		}
	}
	if out := c.ok("dir", "search", "LIGNE", "ecoute"); !strings.Contains(out, id[:8]) {
		t.Fatalf("search with folded accents and case did not find the record:\n%s", out)
	}
	if out := c.ok("dir", "search", "18002653333"); !strings.Contains(out, id[:8]) {
		t.Fatalf("search by phone digits did not find the record:\n%s", out)
	}
	if out := c.ok("dir", "list", "--kind", "hotline"); !strings.Contains(out, "Kamatsiaqtut") {
		t.Fatalf("list:\n%s", out)
	}
	c.fails(ExitError, `unknown field`, "dir", "add", "name=X", "kind=hotline", "colour=blue")
	c.fails(ExitError, "over the limit", "dir", "set", id, "phone="+strings.Repeat("9", 65))
	c.fails(ExitUsage, "FIELD=VALUE", "dir", "add")

	var st map[string]any
	if err := json.Unmarshal([]byte(c.ok("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if h, _ := st["state_hash"].(string); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) || st["entries"].(float64) < 5 {
		t.Fatalf("status --json: %v", st)
	}
	c.ok("dir", "rm", id[:8])
	if out := c.ok("dir", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after rm: %s", out)
	}
	if out := c.ok("conflicts"); !strings.Contains(out, "no conflicts") {
		t.Fatalf("conflicts: %s", out)
	}
	c.ok("verify")
}

func TestOutreachByCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	id := strings.TrimSpace(c.ok("outreach", "add", "date=2026-11-20", "community=Igloolik", "contact=phone", "subject=S-7K3Q", "referred_to=Kids Help Phone", "urgent=true"))
	out := c.ok("outreach", "list")
	if !strings.Contains(out, "S-7K3Q") || !strings.Contains(out, "(urgent)") {
		t.Fatalf("outreach list:\n%s", out)
	}
	if out := c.ok("outreach", "show", id[:8]); !strings.Contains(out, "Kids Help Phone") {
		t.Fatalf("outreach show:\n%s", out)
	}
	c.fails(ExitError, "never a name", "outreach", "add", "date=2026-11-20", "community=Igloolik", "contact=phone", "subject=John Doe")
	c.ok("outreach", "rm", id[:8])
	c.fails(ExitError, "no outreach record", "outreach", "show", "ffff")
}

func TestPassphraseSources(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	// Wrong passphrase: one clear line, exit 1, nothing changed.
	c.env["FLOE_PASSPHRASE"] = "not the passphrase"
	c.fails(ExitError, "wrong passphrase", "status")
	c.fails(ExitError, "nothing was changed", "status")
	// From standard input when there is no terminal.
	delete(c.env, "FLOE_PASSPHRASE")
	if r := c.runIn("correct horse battery\n", "status"); r.code != 0 {
		t.Fatalf("passphrase on stdin: %+v", r)
	}
	// From a file, and changing it.
	f := filepath.Join(t.TempDir(), "pass")
	nf := filepath.Join(t.TempDir(), "new")
	os.WriteFile(f, []byte("correct horse battery\n"), 0o600)
	os.WriteFile(nf, []byte("a brand new passphrase\n"), 0o600)
	c.ok("status", "--passphrase-file", f)
	c.ok("passphrase", "--passphrase-file", f, "--new-passphrase-file", nf)
	c.fails(ExitError, "wrong passphrase", "status", "--passphrase-file", f)
	c.ok("status", "--passphrase-file", nf)
	// Too short for init.
	c2 := newCLI(t)
	c2.env["FLOE_PASSPHRASE"] = "short"
	c2.fails(ExitError, "at least 8 characters", "init")
}

func TestLockedStoreByCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	n, err := node.Open(context.Background(), c.env["FLOE_DIR"], []byte(c.env["FLOE_PASSPHRASE"]), nodeOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c.fails(ExitError, "another", "status")
}

func TestDemo(t *testing.T) {
	c := newCLI(t)
	out := c.ok("demo", "--serve", "off")
	for _, want := range []string{"Kamatsiaqtut", "S-7K3Q", "--keep", "floe init --network kivalliq",
		"floe member admit request.txt", "bundle import", "floe sync coordinator", "floe member revoke laptop2"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	lines := strings.Split(out, "\n")

	// The location is printed once: on the shelter device's reveal, as
	// the location field. The marker appears nowhere else, in any case.
	reveal := demoAfter(t, lines, "shelter$ floe dir show", "--reveal location")
	var marked []string
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), strings.ToLower(fieldkit.CanaryMarker)) {
			marked = append(marked, strings.TrimSpace(l))
		}
	}
	inReveal := false
	for _, l := range reveal {
		inReveal = inReveal || len(marked) == 1 && l == marked[0]
	}
	if len(marked) != 1 || !inReveal || !strings.HasPrefix(marked[0], "location") || !strings.Contains(marked[0], fieldkit.CanaryMarker) {
		t.Fatalf("the location should be printed once, on the shelter device's reveal; lines with the marker: %q\nreveal: %q", marked, reveal)
	}

	// The coordinator is not in the shelter audience: its reveal is refused.
	if r := demoAfter(t, lines, "coordinator$ floe dir show", "--reveal location"); !strings.HasPrefix(r[0], "floe dir:") || !strings.Contains(r[0], "not allowed") {
		t.Errorf("the coordinator's reveal should be refused, got %q", r)
	}
	// The coordinator's audit log lists the shelter device's reveal.
	shelterID := regexp.MustCompile(`admitted (dev:[a-z0-9]+) \(shelter\)`).FindStringSubmatch(out)
	if a := demoAfter(t, lines, "coordinator$ floe audit", ""); shelterID == nil || !strings.Contains(a[0], shelterID[1]+" revealed location of directory") {
		t.Errorf("the audit log should list the shelter device's reveal, got %q", a)
	}
	// Every file of the demo, searched for the marker: none holds it.
	if m := regexp.MustCompile(`\((\d+) files\),\s+searched for the location's marker in any case: (\d+) files hold it`).FindStringSubmatch(out); m == nil || m[1] == "0" || m[2] != "0" {
		t.Errorf("the file search should report 0 hits in some files, got %q", m)
	}

	// The conflict between the coordinator and the shelter device.
	if cs := demoAfter(t, lines, "coordinator$ floe conflicts", ""); len(cs) < 2 || !strings.Contains(cs[0], "hours") || !strings.Contains(cs[1], "hours") {
		t.Errorf("floe conflicts should list two values of hours, got %q", cs)
	}
	if !regexp.MustCompile(`Conflict resolved: the shelter device shows hours = "[^"]+", with no conflict`).MatchString(out) {
		t.Error("the conflict is not shown resolved")
	}

	// The revoked laptop is refused, live and by bundle.
	if r := demoAfter(t, lines, "laptop2$ floe sync coordinator", "--timeout"); !strings.HasPrefix(r[0], "floe sync:") {
		t.Errorf("the revoked laptop's sync should fail, got %q", r)
	}
	if r := demoAfter(t, lines, "coordinator$ floe bundle import from-laptop2", ""); !strings.HasPrefix(r[0], "floe bundle:") || !strings.Contains(strings.Join(r, " "), "revoked") {
		t.Errorf("the revoked laptop's bundle should be refused, got %q", r)
	}
	if !strings.Contains(out, "keeps what it already had") {
		t.Error("the demo should say that a revoked laptop keeps what it had")
	}

	// Four states. The demo itself checks that the shelter device and
	// laptop 1 hold exactly the coordinator's entries their certificates
	// allow; laptop 1 does not read the audit log, so its state differs.
	states := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^   (coordinator|shelter|laptop1|laptop2) +\d+ entries  state hash ([0-9a-f]{16})`).FindAllStringSubmatch(out, -1) {
		states[m[1]] = m[2]
	}
	if len(states) != 4 || states["laptop1"] == states["coordinator"] {
		t.Errorf("the demo should end with four states, laptop 1's unlike the coordinator's: %v", states)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}

// demoAfter returns the demo's output lines after the first command line
// holding both cmd and arg, up to the next command or blank line, trimmed.
func demoAfter(t *testing.T, lines []string, cmd, arg string) []string {
	t.Helper()
	for i, l := range lines {
		if !strings.Contains(l, cmd) || !strings.Contains(l, arg) {
			continue
		}
		var out []string
		for _, m := range lines[i+1:] {
			if strings.TrimSpace(m) == "" || strings.Contains(m, "$ floe ") {
				break
			}
			out = append(out, strings.TrimSpace(m))
		}
		if len(out) == 0 {
			t.Fatalf("nothing printed after %q", l)
		}
		return out
	}
	t.Fatalf("the demo shows no %q %q", cmd, arg)
	return nil
}

func TestSensitiveValuesStayOffTheCommandLine(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	canary := "CANARY-SEALED-LOCATION-7f3a"
	r := c.run("dir", "add", "name=Example Shelter (fictional)", "kind=shelter", "location="+canary)
	if r.code != ExitUsage || !strings.Contains(r.err, "location=-") || strings.Contains(r.out+r.err, canary) {
		t.Fatalf("a location on the command line: %+v; want it refused, without echoing it", r)
	}
	// FIELD=- reads it from standard input instead.
	r = c.runIn(canary+" fictional blue door\n", "dir", "add", "name=Example Shelter (fictional)", "kind=shelter", "location=-")
	if r.code != 0 {
		t.Fatalf("location=- from stdin: %+v", r)
	}
	id := strings.TrimSpace(r.out)
	if out := c.ok("dir", "show", id); strings.Contains(out, canary) {
		t.Fatal("show without --reveal printed the location")
	}
	// A reveal asks for the passphrase again, typed now: FLOE_PASSPHRASE
	// (set for this test) is not enough.
	if r := c.run("dir", "show", id, "--reveal", "location"); r.code == 0 || strings.Contains(r.out+r.err, canary) {
		t.Fatalf("a reveal without the passphrase typed again: %+v", r)
	}
	if r := c.runIn("wrong passphrase\n", "dir", "show", id, "--reveal", "location"); r.code == 0 || !strings.Contains(r.err, "wrong passphrase") || strings.Contains(r.out+r.err, canary) {
		t.Fatalf("a reveal with a wrong passphrase: %+v", r)
	}
	if audit := c.ok("audit"); !strings.Contains(audit, "no reveals") {
		t.Fatalf("refused reveals left audit records:\n%s", audit)
	}
	if r := c.runIn("correct horse battery\n", "dir", "show", id, "--reveal", "location"); r.code != 0 || !strings.Contains(r.out, canary) {
		t.Fatalf("show --reveal location did not print it: %+v", r)
	}
	if audit := c.ok("audit"); !strings.Contains(audit, "revealed location of directory "+id[:8]) || strings.Contains(audit, canary) {
		t.Fatalf("the audit log does not record the reveal (or shows the location):\n%s", audit)
	}
	// A stray argument is not echoed in errors.
	r = c.run("dir", "show", id, canary)
	if r.code != ExitUsage || strings.Contains(r.err, canary) {
		t.Fatalf("extra argument: %+v", r)
	}
	r = c.run("dir", "set", id, canary)
	if strings.Contains(r.err, canary) {
		t.Fatalf("a malformed change echoed its text: %q", r.err)
	}
}

func TestPassphrasesPipedAndFromNotepad(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	delete(c.env, "FLOE_PASSPHRASE")
	// Both passphrases piped to floe passphrase, one per line.
	if r := c.runIn("correct horse battery\nnew passphrase 123\nnew passphrase 123\n", "passphrase"); r.code != 0 {
		t.Fatalf("piped passphrases: %+v", r)
	}
	// A file saved by Notepad starts with a byte-order mark.
	f := filepath.Join(t.TempDir(), "pass.txt")
	os.WriteFile(f, []byte("\xef\xbb\xbfnew passphrase 123\r\n"), 0o600)
	c.ok("status", "--passphrase-file", f)
}

// Two laptops edit one field apart; after they exchange entries, floe
// conflicts lists both values and floe resolve --keep settles it.
func TestConflictsAndResolveByCLI(t *testing.T) {
	a := newCLI(t)
	a.ok("init")
	b := joinCLI(t, a, "coordinator", "*:*")
	id := strings.TrimSpace(a.ok("dir", "add", "name=Sample Legal Clinic (fictional)", "kind=legal", "hours=9-5"))
	exchangeDirs(t, a, b)
	a.ok("dir", "set", id[:8], "hours=Mon-Fri 9-5")
	b.ok("dir", "set", id[:8], "hours=Tue and Thu 10-4")
	exchangeDirs(t, a, b)

	var cs []node.Conflict
	if err := json.Unmarshal([]byte(a.ok("conflicts", "--json")), &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Field != "hours" || len(cs[0].Values) != 2 {
		t.Fatalf("conflicts --json: %+v", cs)
	}
	if out := a.ok("dir", "show", id[:8]); !strings.Contains(out, "conflict: also") {
		t.Fatalf("show does not point out the conflict:\n%s", out)
	}
	var keep string
	for _, v := range cs[0].Values {
		if v.Value == "Mon-Fri 9-5" {
			keep = v.Hash[:12]
		}
	}
	a.fails(ExitUsage, "--keep HASH", "resolve", id[:8], "hours")
	a.fails(ExitError, "no value", "resolve", id[:8], "hours", "--keep", "0000000000")
	a.ok("resolve", id[:8], "hours", "--keep", keep)
	if out := a.ok("conflicts"); !strings.Contains(out, "no conflicts") {
		t.Fatalf("after resolve:\n%s", out)
	}
	exchangeDirs(t, a, b)
	if out := b.ok("dir", "show", id[:8], "--json"); !strings.Contains(out, `"Mon-Fri 9-5"`) || strings.Contains(out, `"conflicts"`) {
		t.Fatalf("the other laptop after sync:\n%s", out)
	}
	var sa, sb map[string]any
	json.Unmarshal([]byte(a.ok("status", "--json")), &sa)
	json.Unmarshal([]byte(b.ok("status", "--json")), &sb)
	if sa["state_hash"] != sb["state_hash"] {
		t.Fatalf("state hashes differ after resolving and syncing: %v vs %v", sa["state_hash"], sb["state_hash"])
	}
}

// exchangeDirs gives each node the other's entries, as sync will.
// joinCLI makes a laptop that joined admin's network by the CLI steps
// (invite, init --join, admit) and got its certificate.
func joinCLI(t *testing.T, admin *cliEnv, role string, areas ...string) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	inv, req := filepath.Join(dir, "invite.txt"), filepath.Join(dir, "request.txt")
	args := []string{"member", "invite", "--role", role, "--out", inv}
	for _, a := range areas {
		args = append(args, "--area", a)
	}
	admin.ok(args...)
	c := newCLI(t)
	c.ok("init", "--join", inv, "--out", req)
	admin.ok("member", "admit", req)
	exchangeDirs(t, admin, c)
	return c
}

func exchangeDirs(t *testing.T, a, b *cliEnv) {
	t.Helper()
	open := func(c *cliEnv) *node.Node {
		n, err := node.Open(context.Background(), c.env["FLOE_DIR"], []byte(c.env["FLOE_PASSPHRASE"]), nodeOptions())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	na, nb := open(a), open(b)
	defer na.Close()
	defer nb.Close()
	if err := exchange(context.Background(), na, nb); err != nil {
		t.Fatal(err)
	}
}

// exchange gives each node the other's entries directly, for tests of
// what happens after a sync without the sync itself.
func exchange(ctx context.Context, a, b *node.Node) error {
	for _, pair := range [][2]*node.Node{{a, b}, {b, a}} {
		var es []sp.Entry
		if err := pair[0].Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil }); err != nil {
			return err
		}
		if _, err := pair[1].Merge(ctx, es); err != nil {
			return err
		}
	}
	return nil
}
