package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serving runs a command that serves on addr until the test ends, and
// waits (up to wait) until path answers; it returns that answer.
func serving(t *testing.T, c *cliEnv, addr, path string, wait time.Duration, args ...string) *http.Response {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		Main(ctx, args, IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard,
			Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }})
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	deadline := time.Now().Add(wait)
	for {
		resp, err := http.Get("http://" + addr + path)
		if err == nil {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not serve %s: %v", args, path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func unlockOver(t *testing.T, addr, pass string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/api/v1/unlock", "application/json", strings.NewReader(`{"passphrase":"`+pass+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("unlock: %v %v", resp, err)
	}
	resp.Body.Close()
}

// floe serve starts locked, unlocks with the passphrase over HTTP, and
// refuses a non-loopback address.
func TestServe(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.fails(ExitError, "this laptop only", "serve", "--http", "0.0.0.0:7421")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	resp := serving(t, c, addr, "/api/v1/status", 2500*time.Millisecond, "serve", "--http", addr)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status while locked: %d", resp.StatusCode)
	}
	unlockOver(t, addr, "correct horse battery")
}

// floe demo ends with the URLs of two running nodes with the sample
// data, whose web apps answer: the coordinator's and the shelter
// device's, at the next port.
func TestDemoServe(t *testing.T) {
	var addr, next string
	for {
		p := freePort(t)
		addr, next = fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p+1)
		if l, err := net.Listen("tcp", next); err == nil {
			l.Close()
			break
		}
	}
	c := newCLI(t)
	resp := serving(t, c, addr, "/", 20*time.Second, "demo", "--serve", addr)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="passphrase"`) {
		t.Fatalf("the demo's web app: %d %s", resp.StatusCode, body)
	}
	unlockOver(t, addr, "demo passphrase")
	unlockOver(t, next, "demo passphrase")
}
