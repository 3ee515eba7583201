package httpapi

import (
	"net/url"
	"strings"
	"testing"
)

// The errors people meet on a page are in their language, with the
// node's English words after them for whoever helps.
func TestPageErrorsInFrench(t *testing.T) {
	f := newFixture(t)
	w := newWebClient(t, f)
	w.get("/lang?l=fr&next=/")
	code, body := w.post("/outreach", url.Values{"date": {"hier"}, "community": {"Arviat"}, "contact": {"phone"}, "subject": {"S-7K3Q"}})
	if code != 400 || !strings.Contains(body, "Vérifiez ce champ :") || !strings.Contains(body, `lang="en"`) {
		t.Fatalf("a bad date in French: %d\n%s", code, body)
	}
	_, page := w.get("/directory?q=shelter")
	i := strings.Index(page, `href="/directory/`)
	if i < 0 {
		t.Fatal("no shelter listed")
	}
	id := page[i+len(`href="/directory/`):]
	id = id[:strings.IndexByte(id, '"')]
	code, body = w.post("/directory/"+id+"/reveal", url.Values{"passphrase": {"pas la bonne"}})
	if code != 401 || !strings.Contains(body, "Ce n&#39;est pas la phrase de passe de cet ordinateur.") {
		t.Fatalf("a wrong passphrase at a reveal, in French: %d\n%s", code, body)
	}
}
