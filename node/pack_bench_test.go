package node_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

func storeOpts() store.Options {
	return store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}
}

// BenchmarkPack builds and installs a pack of 1,000 services (about
// 10,000 entries) with 200 MB of attachments (twenty 10 MB files), then
// a delta for one changed phone number. Run it with -benchtime 1x: it
// reports MB/s for build and install and the delta's size.
func BenchmarkPack(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchPackOnce(b)
	}
}

func benchPackOnce(b *testing.B) {
	b.StopTimer()
	dir := b.TempDir()
	admin, err := node.Init(ctx, filepath.Join(dir, "admin"), []byte(pass), benchOpts(true))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	trainer := benchJoin(b, admin, filepath.Join(dir, "trainer"), node.RoleTrainer, "directory:*")
	defer trainer.Close()
	lap := benchJoin(b, admin, filepath.Join(dir, "laptop"), node.RoleOutreach, "outreach:kivalliq", "directory:*")
	defer lap.Close()
	files := map[string][]byte{}
	for i := 0; i < 20; i++ {
		f := make([]byte, 10<<20)
		rand.Read(f)
		files[fmt.Sprintf("video-%02d.mp4", i)] = f
	}
	var rows []fieldkit.ServiceRow
	i := 0
	_ = fieldkit.GenerateDirectory(7, 1000, func(r fieldkit.Record) error {
		row := fieldkit.ServiceRow{Line: i + 2, Key: fmt.Sprintf("svc-%04d", i), Fields: map[string]string{}}
		for k, v := range r.Fields {
			switch x := v.(type) {
			case string:
				row.Fields[k] = x
			case []string:
				s := ""
				for j, e := range x {
					if j > 0 {
						s += ","
					}
					s += e
				}
				row.Fields[k] = s
			}
		}
		if i < 20 {
			row.Fields["attachments"] = fmt.Sprintf("video-%02d.mp4", i)
		}
		rows = append(rows, row)
		i++
		return nil
	})
	opts := node.PackBuildOptions{Name: "bench", Files: func(name string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files[name])), nil
	}}
	packPath := filepath.Join(dir, "v1.floepack")
	f, _ := os.Create(packPath)
	b.StartTimer()
	t0 := time.Now()
	rep, err := trainer.BuildPack(ctx, rows, false, opts, f)
	build := time.Since(t0)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	ir, err := lap.InstallPack(ctx, func() (io.ReadCloser, error) { return os.Open(packPath) })
	inst := time.Since(t0)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	mb := float64(rep.Bytes) / 1e6
	b.ReportMetric(float64(rep.Entries), "entries")
	b.ReportMetric(mb, "pack-MB")
	b.ReportMetric(mb/build.Seconds(), "build-MB/s")
	b.ReportMetric(mb/inst.Seconds(), "install-MB/s")
	_ = ir
	for j := range rows {
		if rows[j].Key == "svc-0500" {
			rows[j].Fields["phone"] = "867-555-0999"
		}
	}
	opts.Delta = true
	var delta bytes.Buffer
	if _, err := trainer.BuildPack(ctx, rows, false, opts, &delta); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(delta.Len()), "delta-bytes")
	clear(files)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/1e6, "live-heap-MB") // three open nodes, after the run
}

func benchOpts(audience bool) node.Options {
	o := node.Options{Store: storeOpts()}
	if audience {
		o.Audiences = []string{node.ShelterAudience}
	}
	return o
}

func benchJoin(b *testing.B, admin *node.Node, dir, role string, areas ...string) *node.Node {
	inv, err := admin.MakeInvite(node.InviteOptions{Role: role, Areas: areas})
	if err != nil {
		b.Fatal(err)
	}
	o := benchOpts(false)
	o.Join = &inv
	n, err := node.Init(ctx, dir, []byte(pass), o)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := n.MakeJoinRequest("bench")
	if _, err := admin.Admit(ctx, req); err != nil {
		b.Fatal(err)
	}
	var es []sp.Entry
	_ = admin.Entries(ctx, func(e sp.Entry) error {
		if e.Collection == node.Members {
			es = append(es, e)
		}
		return nil
	})
	if _, err := n.Merge(ctx, es); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkBlobResume moves a 20 MB attachment in the blob phase of a
// live sync over a link cut after about 8 MB, then finishes it in a
// second sync, and reports how much of what had arrived was sent again
// (resent-bytes) and the goodput of each session on the in-memory link.
func BenchmarkBlobResume(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		a, err := node.Init(ctx, filepath.Join(dir, "a"), []byte(pass), benchOpts(true))
		if err != nil {
			b.Fatal(err)
		}
		peer := benchJoin(b, a, filepath.Join(dir, "b"), node.RoleCoordinator, "*:*")
		id, err := a.Add(ctx, node.Directory, []node.Change{{Field: "name", Value: "Sample Clinic (fictional)"}, {Field: "kind", Value: "health"}})
		if err != nil {
			b.Fatal(err)
		}
		big := make([]byte, 20<<20)
		rand.Read(big)
		if _, err := a.Attach(ctx, id, "training.mp4", bytes.NewReader(big)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		la, lb := linkemu.Pipe(linkemu.Profile{CutAfterBytes: 8 << 20})
		t0 := time.Now()
		_, r1, _, _ := benchSync(a, peer, la, lb)
		d1 := time.Since(t0)
		ca, cb := net.Pipe()
		t0 = time.Now()
		_, r2, e1, e2 := benchSync(a, peer, ca, cb)
		d2 := time.Since(t0)
		b.StopTimer()
		if e1 != nil || e2 != nil {
			b.Fatal(e1, e2)
		}
		total := r1.Blobs.BytesIn + r2.Blobs.BytesIn
		b.ReportMetric(float64(r1.Blobs.BytesIn)/1e6, "first-MB")
		b.ReportMetric(float64(total)-float64(len(big)), "resent-bytes")
		b.ReportMetric(float64(r1.Blobs.BytesIn)/1e6/d1.Seconds(), "first-MB/s")
		b.ReportMetric(float64(r2.Blobs.BytesIn)/1e6/d2.Seconds(), "resume-MB/s")
		a.Close()
		peer.Close()
	}
}

func benchSync(a, b *node.Node, ca, cb net.Conn) (node.SyncResult, node.SyncResult, error, error) {
	var rb node.SyncResult
	var errB error
	done := make(chan struct{})
	go func() {
		rb, errB = b.SyncStream(ctx, cb, false, a.ID(), node.SyncOptions{StallTimeout: 10 * time.Second})
		cb.Close()
		close(done)
	}()
	ra, errA := a.SyncStream(ctx, ca, true, b.ID(), node.SyncOptions{StallTimeout: 10 * time.Second})
	ca.Close()
	<-done
	return ra, rb, errA, errB
}
