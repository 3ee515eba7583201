package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAPIBodies: request bodies come from any program on the laptop.
// Whatever they hold, the API answers with JSON, never a 5xx, never a
// panic.
func FuzzAPIBodies(f *testing.F) {
	fx := newFixture(&testing.T{})
	fx.t = &testing.T{}
	code, m, _ := fx.do("POST", "/api/v1/unlock", `{"passphrase":"`+pass+`"}`)
	if code != 200 {
		f.Fatal("unlock")
	}
	token := m["token"].(string)
	h := fx.srv.Handler()
	f.Add("/api/v1/outreach", `{"fields":{"date":"2026-11-24","community":"Arviat","contact":"phone","subject":"S-1"}}`)
	f.Add("/api/v1/outreach", `{"fields":{"subject":"x\u0000"}}`)
	f.Add("/api/v1/unlock", `{"passphrase":1}`)
	f.Add("/api/v1/directory/abcd/reveal", `{"field":"location","passphrase":""}`)
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/api/v1/") || strings.ContainsAny(path, " ?#%") || path == "/api/v1/unlock" || strings.HasSuffix(path, "/reveal") {
			return // a wrong passphrase on unlock or reveal counts toward a wipe
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return // not a URL a client could send
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusMethodNotAllowed && (rec.Code < 300 || rec.Code >= 400) { // redirects clean a path
			var v any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s: not JSON: %s", path, rec.Body)
			}
		}
	})
}
