package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// floe version shows the build and every format, and --json has stable
// keys that scripts (and a support person) can rely on.
func TestVersionShowsEveryFormat(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "1.2.0", "0123abcd"
	c := newCLI(t)
	var got map[string]any
	if err := json.Unmarshal([]byte(c.ok("version", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version": "1.2.0", "commit": "0123abcd",
		"store_layout": float64(store.LayoutVersion), "entry_format": float64(sp.EntryFormat),
		"sync_protocol": float64(sp.ProtocolVersion), "bundle_format": float64(fieldkit.BundleFormat), "pack_format": float64(fieldkit.PackFormat),
		"backup_format": float64(node.BackupFormatVersion),
	}
	keys := []string{"version", "commit", "go", "os_arch", "store_layout", "entry_format", "sync_protocol", "bundle_format", "pack_format", "backup_format"}
	var have []string
	for k := range got {
		have = append(have, k)
	}
	slices.Sort(have)
	slices.Sort(keys)
	if !slices.Equal(have, keys) {
		t.Fatalf("keys %q, want %q", have, keys)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if !strings.HasPrefix(got["go"].(string), "go") || !strings.Contains(got["os_arch"].(string), "/") {
		t.Errorf("go %v, os_arch %v", got["go"], got["os_arch"])
	}
	out := c.ok("version")
	for _, s := range []string{"floe 1.2.0", "commit 0123abcd", "store layout   2", "entry format   1", "sync protocol  1", "bundle format  1", "pack format    1"} {
		if !strings.Contains(out, s) {
			t.Errorf("floe version does not show %q:\n%s", s, out)
		}
	}
	// Without -X, the commit comes from the build, or says it is unknown.
	Commit = ""
	if v := BuildVersion(); v.Commit == "" {
		t.Error("no commit at all")
	}
}

// A node made by the Floe of store layout 1 opens in this one, through
// the command line: it is upgraded in place, and its state hash is the
// one it had.
func TestCLIOpensAnOlderStore(t *testing.T) {
	fixture := filepath.Join("..", "node", "testdata", "store-layout1")
	var exp struct {
		Passphrase string `json:"passphrase"`
		Entries    uint64 `json:"entries"`
		StateHash  string `json:"state_hash"`
	}
	b, err := os.ReadFile(filepath.Join(fixture, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	copyTree(t, filepath.Join(fixture, "node"), c.env["FLOE_DIR"])
	c.env["FLOE_PASSPHRASE"] = exp.Passphrase
	var st struct {
		Entries   uint64 `json:"entries"`
		StateHash string `json:"state_hash"`
	}
	if err := json.Unmarshal([]byte(c.ok("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Entries != exp.Entries || st.StateHash != exp.StateHash {
		t.Fatalf("status %+v, want %d entries, state %s", st, exp.Entries, exp.StateHash)
	}
	c.ok("verify")
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
