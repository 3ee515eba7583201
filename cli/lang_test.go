package cli

import (
	"strings"
	"testing"
)

// Directory text in English, French and Inuktitut: --lang picks the
// language, the others are the fallback (marked), and search matches
// across all three, folding case and accents, on syllabics too.
func TestLanguages(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.ok("dir", "add", "name/en=Example Health Centre (fictional)", "name/fr=Centre de santé d'exemple (fictif)",
		"name/iu=ᐋᓐᓂᐊᕐᕕᒃ (sample)", "kind=health", "notes/fr=Consultations en français", "notes/en=Walk in")
	c.ok("dir", "add", "name/en=Sample Legal Clinic (fictional)", "kind=legal")
	if out := c.ok("dir", "list", "--lang", "fr"); !strings.Contains(out, "Centre de santé d'exemple") || !strings.Contains(out, "Sample Legal Clinic (fictional) [en]") {
		t.Fatalf("--lang fr:\n%s", out)
	}
	if out := c.ok("dir", "list", "--lang", "iu"); !strings.Contains(out, "ᐋᓐᓂᐊᕐᕕᒃ (sample)") {
		t.Fatalf("--lang iu:\n%s", out)
	}
	c.env["FLOE_LANG"] = "fr"
	if out := c.ok("dir", "list"); !strings.Contains(out, "Centre de santé") {
		t.Fatalf("FLOE_LANG=fr:\n%s", out)
	}
	delete(c.env, "FLOE_LANG")
	for _, q := range []string{"SANTE", "francais", "ᐋᓐᓂᐊᕐᕕᒃ", "health centre"} {
		if out := c.ok("dir", "search", q); !strings.Contains(out, "Example Health Centre") {
			t.Errorf("search %q did not find the centre:\n%s", q, out)
		}
	}
}
