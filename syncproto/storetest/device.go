// Package storetest holds what tests of Floe stores and merges share: a
// simulated device that writes honest entries, a generator of random
// multi-device histories, and the conformance suite that every
// syncproto.Store implementation must pass.
package storetest

import (
	"context"
	"crypto/ed25519"
	"math/rand/v2"
	"time"

	sp "github.com/floe-north/floe/syncproto"
)

// Epoch is the start of simulated time.
var Epoch = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// Device is a simulated device: a key, a clock and its own view of the
// state. It writes entries the way a real node does.
type Device struct {
	Key   ed25519.PrivateKey
	ID    sp.DeviceID
	Clock sp.Clock
	View  *sp.MemStore
	Now   time.Time
	// Known is the device's causal past, field by field: every entry it
	// wrote or received, and everything those had seen of their own field,
	// mapped to that field. Past, if set, is shared by all devices of a
	// history and records what each written entry's writer had seen of its
	// field. Together they are the reference model of causality that
	// merges are checked against.
	Known map[sp.EntryHash]string
	Past  map[sp.EntryHash]map[sp.EntryHash]struct{}
}

// NewDevice makes a device with a key derived from seed.
func NewDevice(seed byte) *Device {
	var s [ed25519.SeedSize]byte
	s[0], s[1] = seed, 0xf1
	k := ed25519.NewKeyFromSeed(s[:])
	d := &Device{Key: k, View: sp.NewMemStore(), Now: Epoch, Known: map[sp.EntryHash]string{}}
	copy(d.ID[:], k.Public().(ed25519.PublicKey))
	return d
}

// Tick moves the device's wall clock on.
func (d *Device) Tick(dt time.Duration) { d.Now = d.Now.Add(dt) }

func (d *Device) apply(e sp.Entry) sp.Entry {
	h, f := e.Hash(), fieldOf(&e)
	if d.Past != nil {
		past := map[sp.EntryHash]struct{}{}
		for k, kf := range d.Known {
			if kf == f {
				past[k] = struct{}{}
			}
		}
		d.Past[h] = past
	}
	d.Known[h] = f
	if _, err := d.View.ApplyVerified(context.Background(), []sp.Entry{e}); err != nil {
		panic(err)
	}
	return e
}

func fieldOf(e *sp.Entry) string {
	return e.Collection + "\x00" + string(e.Record[:]) + "\x00" + e.Field
}

// Set writes a value to a field, having seen the field's current entries.
func (d *Device) Set(coll string, id sp.RecordID, field string, v any) sp.Entry {
	val, err := sp.EncodeValue(v)
	if err != nil {
		panic(err)
	}
	var sib []sp.Entry
	if es, err := d.View.Record(context.Background(), coll, id); err == nil {
		for _, e := range es {
			if e.Field == field {
				sib = append(sib, e)
			}
		}
	}
	e := sp.Entry{Collection: coll, Record: id, Field: field, Time: d.Clock.Now(d.Now), Kind: sp.KindValue, Value: val, Context: sp.Context(sib)}
	e.Sign(d.Key)
	return d.apply(e)
}

// Count sets this device's running count of a tally field.
func (d *Device) Count(coll string, id sp.RecordID, field string, n uint64) sp.Entry {
	val, _ := sp.EncodeValue(n)
	e := sp.Entry{Collection: coll, Record: id, Field: field, Time: d.Clock.Now(d.Now), Kind: sp.KindTally, Value: val}
	e.Sign(d.Key)
	return d.apply(e)
}

// Delete writes a record tombstone.
func (d *Device) Delete(coll string, id sp.RecordID) sp.Entry {
	e := sp.Entry{Collection: coll, Record: id, Time: d.Clock.Now(d.Now), Kind: sp.KindTombstone}
	e.Sign(d.Key)
	return d.apply(e)
}

// Receive merges entries from elsewhere into the device's view.
func (d *Device) Receive(es []sp.Entry) {
	for _, e := range es {
		d.Clock.Observe(e.Time)
		h, f := e.Hash(), fieldOf(&e)
		d.Known[h] = f
		for k := range d.Past[h] {
			d.Known[k] = f
		}
	}
	if _, err := d.View.ApplyVerified(context.Background(), es); err != nil {
		panic(err)
	}
}

// Entries is every entry the device's view keeps, in sync order.
func (d *Device) Entries() []sp.Entry { return All(d.View) }

// All is every entry a store keeps, in sync order.
func All(s sp.Store) []sp.Entry {
	var out []sp.Entry
	err := s.ScanSyncOrder(context.Background(), nil, func(_ sp.SyncKey, e sp.Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}

// Collections used by generated histories.
var historyCollections = []string{"directory", "outreach"}

// History is a random multi-device history.
type History struct {
	Devices []*Device
	Records []sp.RecordID
	// Past maps each written entry to its causal past (see Device).
	Past map[sp.EntryHash]map[sp.EntryHash]struct{}
	// Universe is every entry any device wrote, in the order written.
	Universe []sp.Entry
}

// RandomHistory simulates devices that write, delete, count and gossip at
// random. Every entry is honest: written by a device having seen what its
// view held.
func RandomHistory(rng *rand.Rand, devices, records, ops int) *History {
	h := &History{Past: map[sp.EntryHash]map[sp.EntryHash]struct{}{}}
	for i := range devices {
		d := NewDevice(byte(i + 1))
		d.Past = h.Past
		h.Devices = append(h.Devices, d)
	}
	for range records {
		var id sp.RecordID
		for i := range id {
			id[i] = byte(rng.IntN(256))
		}
		h.Records = append(h.Records, id)
	}
	fields := []string{"name/en", "name/fr", "phone", "kind", "languages/iu", "notes"}
	for range ops {
		d := h.Devices[rng.IntN(len(h.Devices))]
		d.Tick(time.Duration(rng.IntN(3000)) * time.Millisecond)
		id := h.Records[rng.IntN(len(h.Records))]
		coll := historyCollections[int(id[0])%len(historyCollections)]
		if es, _ := d.View.Record(context.Background(), coll, id); len(es) == 1 && es[0].Kind == sp.KindTombstone {
			// A node does not write to a record it knows is deleted.
			continue
		}
		var e sp.Entry
		switch r := rng.IntN(100); {
		case r < 3:
			e = d.Delete(coll, id)
		case r < 12:
			e = d.Count(coll, id, "tally/contacts", uint64(rng.IntN(50)))
		case r < 30:
			// gossip: another device sends a random subset of its view
			src := h.Devices[rng.IntN(len(h.Devices))]
			all := src.Entries()
			var some []sp.Entry
			for _, x := range all {
				if rng.IntN(2) == 0 {
					some = append(some, x)
				}
			}
			d.Receive(some)
			continue
		default:
			e = d.Set(coll, id, fields[rng.IntN(len(fields))], rng.IntN(1000))
		}
		h.Universe = append(h.Universe, e)
	}
	return h
}
