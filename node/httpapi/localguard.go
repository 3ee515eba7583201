package httpapi

import (
	"net"
	"net/http"
	"net/url"
)

// localGuard keeps other web sites out of the laptop's own app. A page
// open in the laptop's browser can send requests to 127.0.0.1: without
// this it could post wrong passphrases (each counts toward a wipe after
// failures), lock the node, or, through a DNS name that points at
// 127.0.0.1, read what the app answers. So:
//
//   - the Host must name this laptop (127.0.0.1, ::1 or localhost), which
//     defeats DNS rebinding;
//   - a request that changes something (any method but GET and HEAD) from
//     a browser must come from this app's own pages: Sec-Fetch-Site
//     same-origin or none, or else an Origin on this laptop. Programs
//     such as curl send neither header and are let through: they run on
//     this laptop already.
//
// Another app on another port of 127.0.0.1 is another origin: its pages
// cannot post here either.
func localGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeErr(w, fail(http.StatusForbidden, "bad_host", "this app answers only to 127.0.0.1 or localhost; open http://127.0.0.1:PORT/ in the browser"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			writeErr(w, fail(http.StatusForbidden, "cross_site", "a request from another web site was refused: use the app's own pages"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false // same-site (another port), cross-site
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser's cross-origin request
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}
