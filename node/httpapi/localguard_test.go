package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Other web sites cannot use the laptop's app: not through a DNS name
// that points at 127.0.0.1, and not by posting from their pages (a wrong
// passphrase counts toward a wipe). The app's own pages and programs on
// the laptop can.
func TestOtherSitesAreKeptOut(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(localGuard(f.srv.Handler()))
	defer ts.Close()
	try := func(method, path, host string, h map[string]string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader("passphrase=wrong"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if host != "" {
			req.Host = host
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	self := strings.TrimPrefix(ts.URL, "http://")
	for _, c := range []struct {
		what         string
		method, path string
		host         string
		headers      map[string]string
		want         int
	}{
		{"a rebinding name", "GET", "/metrics", "evil.example:80", nil, 403},
		{"a page elsewhere posting an unlock", "POST", "/unlock", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403},
		{"another app on another port", "POST", "/lock", "", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, 403},
		{"an old browser's cross-site post", "POST", "/unlock", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"the app's own page", "POST", "/unlock", "", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + self}, 401},
		{"a program on the laptop", "POST", "/unlock", "", nil, 401},
		{"localhost by name", "GET", "/metrics", "localhost" + self[strings.LastIndex(self, ":"):], nil, 200},
	} {
		if got := try(c.method, c.path, c.host, c.headers); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
}
