package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// floe serve starts locked, unlocks with the passphrase over HTTP, and
// refuses a non-loopback address.
func TestServe(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.fails(ExitError, "this laptop only", "serve", "--http", "0.0.0.0:7421")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var out bytes.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		io := IO{In: strings.NewReader(""), Out: &out, Err: io.Discard, Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }}
		Main(ctx, []string{"serve", "--http", addr}, io)
	}()
	defer func() { stop(); wg.Wait() }()
	var resp *http.Response
	var err error
	for i := 0; i < 50; i++ {
		if resp, err = http.Get("http://" + addr + "/api/v1/status"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("status while locked: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post("http://"+addr+"/api/v1/unlock", "application/json", strings.NewReader(`{"passphrase":"correct horse battery"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("unlock: %v %v", resp, err)
	}
	resp.Body.Close()
}

// floe demo --serve ends with the URL of a running node with the sample
// data, whose web app answers.
func TestDemoServe(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := newCLI(t)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var out bytes.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		io := IO{In: strings.NewReader(""), Out: &out, Err: io.Discard, Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }}
		Main(ctx, []string{"demo", "--serve", addr}, io)
	}()
	defer func() { stop(); wg.Wait() }()
	var resp *http.Response
	var err error
	for i := 0; i < 200; i++ {
		if resp, err = http.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the demo's web app did not answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="passphrase"`) {
		t.Fatalf("the demo's web app: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+addr+"/api/v1/unlock", "application/json", strings.NewReader(`{"passphrase":"demo passphrase"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("unlocking the demo node: %v %v", resp, err)
	}
	resp.Body.Close()
}
