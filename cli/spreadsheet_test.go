package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A coordinator keeps the directory in a spreadsheet: export, edit,
// import. The export never holds a location; importing it back updates the
// same records; bad rows are reported by line and nothing is imported
// unless --partial.
func TestDirectorySpreadsheet(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.ok("dir", "add", "name=Sample Clinic (fictional)", "kind=health", "community=Arviat", "phone=867-555-0100", "languages=en,iu")
	canary := "CANARY-SEALED-LOCATION-7f3a spreadsheet"
	if r := c.runIn(canary+"\n", "dir", "add", "name=Sample Shelter (fictional)", "kind=shelter", "phone=867-555-0190", "location=-"); r.code != 0 {
		t.Fatalf("add shelter: %+v", r)
	}
	dir := t.TempDir()
	sheet := filepath.Join(dir, "directory.csv")
	if out := c.ok("dir", "export", sheet); !strings.Contains(out, "2 services") {
		t.Fatalf("export: %s", out)
	}
	b, _ := os.ReadFile(sheet)
	if strings.Contains(strings.ToLower(string(b)), "canary") || strings.Contains(string(b), "location") {
		t.Fatalf("the export holds a location:\n%s", b)
	}
	edited := strings.Replace(string(b), "867-555-0100", "867-555-0109", 1) + "new-key,,legal,Sample Court Office (fictional),,,,,867-555-0111" + strings.Repeat(",", 9) + "\n"
	os.WriteFile(sheet, []byte(edited), 0o600)
	if out := c.ok("dir", "import", sheet); !strings.Contains(out, "1 services added, 1 changed") {
		t.Fatalf("import: %s", out)
	}
	if out := c.ok("dir", "search", "clinic"); !strings.Contains(out, "867-555-0109") {
		t.Fatalf("the phone did not change: %s", out)
	}
	if out := c.ok("dir", "import", sheet); !strings.Contains(out, "0 services added, 0 changed") {
		t.Fatalf("importing the same sheet again: %s", out)
	}
	// The shelter's location survived the round trip untouched.
	if r := c.runIn("correct horse battery\n", "dir", "search", "shelter"); !strings.Contains(r.out, "Sample Shelter") {
		t.Fatalf("search: %+v", r)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,kind,name/en\nok,health,Fine (fictional)\nx,spaceport,Odd (fictional)\n"), 0o600)
	before := statusJSON(t, c)["state_hash"]
	r := c.run("dir", "import", bad)
	if r.code == 0 || !strings.Contains(r.err, "line 3") || !strings.Contains(r.err, "kind") {
		t.Fatalf("a bad row: %+v", r)
	}
	if statusJSON(t, c)["state_hash"] != before {
		t.Fatal("a refused import wrote something")
	}
	if out := c.ok("dir", "import", bad, "--partial"); !strings.Contains(out, "1 services added") {
		t.Fatalf("a partial import: %s", out)
	}
	c.fails(ExitError, "already exists", "dir", "export", sheet)
}
