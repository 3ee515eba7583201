package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// A new laptop alone: the doctor finds the store and disk well and says
// that it syncs with nobody, with what to do; --json says the same.
func TestDoctorByCLI(t *testing.T) {
	c := newCLI(t)
	c.fails(ExitError, "no Floe node", "doctor")
	c.ok("init")
	out := c.ok("doctor")
	for _, want := range []string{"ok    store", "every row checks out", "warn  peers", "syncs with nobody", "-> add the hub", "budget", "warn  backup", "no backup key"} {
		if !strings.Contains(out, want) {
			t.Errorf("floe doctor lacks %q:\n%s", want, out)
		}
	}
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name, Status, Found, Advice string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(c.ok("doctor", "--quick", "--json")), &rep); err != nil || !rep.OK || len(rep.Checks) != 7 {
		t.Fatalf("doctor --json: %+v %v", rep, err)
	}
	if rep.Checks[0].Name != "store" || !strings.Contains(rep.Checks[0].Found, "not read in full") {
		t.Errorf("--quick still read the store: %+v", rep.Checks[0])
	}
}
