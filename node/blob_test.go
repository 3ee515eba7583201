package node_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
)

// An attachment is stored in chunks, read back whole, listed with its
// size and type, and shown "not yet here" on a laptop that has the entry
// but not the chunks, which is not an error.
func TestAttachments(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, b := join(t, a, node.RoleCoordinator, "*:*")
	id := mustAdd(t, a, node.Directory, "name=Sample Clinic (fictional)", "kind=health")
	data := make([]byte, 200<<10+17) // four chunks, the last one short
	rand.Read(data)
	att, err := a.Attach(ctx, id, "poster.pdf", bytes.NewReader(data))
	if err != nil || att.Size != uint64(len(data)) || att.Type != "application/pdf" {
		t.Fatalf("attach: %+v %v", att, err)
	}
	var got bytes.Buffer
	if _, err := a.ReadAttachment(ctx, id, "poster.pdf", &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read back: %v", err)
	}
	if err := a.Update(ctx, node.Directory, id, changes(t, "attachments/x.pdf=abc")); err == nil {
		t.Fatal("an attachment was typed in")
	}
	if r, _ := a.Get(ctx, node.Directory, id, node.ReadOptions{}); !strings.Contains(fmt.Sprintf("%+v", r.Fields), "Here:true") {
		t.Fatalf("the attaching laptop does not show it here: %+v", r.Fields)
	}
	exchange(t, a, b) // entries only: the chunks do not come this way
	r, err := b.Get(ctx, node.Directory, id, node.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(r)
	if !bytes.Contains(js, []byte(`"here":false`)) || !bytes.Contains(js, []byte(`"size":204817`)) {
		t.Fatalf("the listing on b: %s", js)
	}
	if _, err := b.ReadAttachment(ctx, id, "poster.pdf", &got); !errors.Is(err, node.ErrNotYetHere) {
		t.Fatalf("reading a missing attachment: %v", err)
	}
	miss, err := b.MissingChunks(ctx, 100)
	if err != nil || len(miss) != 1 {
		t.Fatalf("b should want the manifest first: %d %v", len(miss), err)
	}
}

// Attachment chunks come in the blob phase of a live sync, after the
// entries; a transfer cut part way keeps the chunks that arrived, and the
// next sync fetches only the rest.
func TestBlobsSyncAndResume(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, b := join(t, a, node.RoleCoordinator, "*:*")
	id := mustAdd(t, a, node.Directory, "name=Sample Clinic (fictional)", "kind=health")
	small := make([]byte, 300<<10)
	rand.Read(small)
	if _, err := a.Attach(ctx, id, "intake.pdf", bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	ca, cb := net.Pipe()
	_, rb, errA, errB := syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	var got bytes.Buffer
	if _, err := b.ReadAttachment(ctx, id, "intake.pdf", &got); err != nil || !bytes.Equal(got.Bytes(), small) {
		t.Fatalf("the attachment after a sync: %v (%+v)", err, rb.Blobs)
	}

	big := make([]byte, 3<<20)
	rand.Read(big)
	if _, err := a.Attach(ctx, id, "training.mp3", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	la, lb := linkemu.Pipe(linkemu.Profile{Bandwidth: 200_000_000, CutAfterBytes: 1_500_000})
	_, rb, _, _ = syncOver(t, a, b, la, lb, node.SyncOptions{StallTimeout: 5 * time.Second})
	first := rb.Blobs.BytesIn
	if first == 0 || first >= uint64(len(big)) {
		t.Fatalf("the cut transfer brought %d bytes of %d", first, len(big))
	}
	if _, err := b.ReadAttachment(ctx, id, "training.mp3", &got); !errors.Is(err, node.ErrNotYetHere) {
		t.Fatalf("a half-here attachment: %v", err)
	}
	ca, cb = net.Pipe()
	_, rb, errA, errB = syncOver(t, a, b, ca, cb, node.SyncOptions{})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	t.Logf("cut after %d bytes of chunks; the next sync brought %d", first, rb.Blobs.BytesIn)
	if first+rb.Blobs.BytesIn > uint64(len(big))+64<<10*9 {
		t.Fatalf("the resumed transfer resent what had arrived: %d + %d for %d", first, rb.Blobs.BytesIn, len(big))
	}
	got.Reset()
	if _, err := b.ReadAttachment(ctx, id, "training.mp3", &got); err != nil || !bytes.Equal(got.Bytes(), big) {
		t.Fatalf("the attachment after the resumed sync: %v", err)
	}
}
