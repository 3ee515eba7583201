package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// FuzzPairBody: a pair request comes from anyone on the community Wi-Fi.
// Whatever its body holds, the answer is JSON, never a 5xx, never a
// panic; a code is read only as 10 ASCII digits, and a token is given
// only for the code the laptop made.
func FuzzPairBody(f *testing.F) {
	fx := newFixture(&testing.T{})
	fx.t = &testing.T{}
	fx.unlock()
	code, m, _ := fx.do("POST", "/api/v1/pairing", `{"name":"Annie's phone","role":"outreach-worker"}`)
	if code != 201 {
		f.Fatal("making a pairing code")
	}
	want := strings.ReplaceAll(m["code"].(string), "-", "")
	h := fx.srv.Handler()
	digits := regexp.MustCompile(`^[0-9]{10}$`)
	f.Add(`{"code":"` + m["code"].(string) + `","name":"Pixel 7"}`)
	f.Add(`{"code":"12345-67890"}`)
	f.Add(`{"code":12345}`)
	f.Add(`{"code":"１２３４５６７８９０"}`)
	f.Add(`{"code":"` + want + `","extra":1}`)
	f.Add(`{"code":"1234567890","name":"` + strings.Repeat("x", 65) + `"}`)
	f.Add(`{"code":"1234567890"}{"code":"1234567890"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if c, err := parsePairCode(body); err == nil && !digits.MatchString(c) {
			t.Fatalf("%q was read as the code %q", body, c)
		}
		req := httptest.NewRequest("POST", "/api/v1/pair", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%q: not JSON: %s", body, rec.Body)
		}
		if rec.Code == 201 {
			var req pairReq
			json.Unmarshal([]byte(body), &req)
			if c, err := parsePairCode(req.Code); err != nil || c != want {
				t.Fatalf("%q paired without the laptop's code", body)
			}
		}
	})
}
