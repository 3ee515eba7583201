package syncproto_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	sp "github.com/floe-north/floe/syncproto"
)

var hlcEpoch = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func wallMs(t time.Time) uint64 { return uint64(t.UnixMilli()) }

// Every timestamp a device issues is greater than the one before, whatever
// its wall clock does: a laptop whose clock is set back, or a phone whose
// clock stands still, still orders its own edits correctly.
func TestClockNowStrictlyIncreases(t *testing.T) {
	walls := []struct {
		name string
		at   time.Time
	}{
		{"start", hlcEpoch},
		{"same millisecond", hlcEpoch},
		{"same millisecond again", hlcEpoch},
		{"one millisecond on", hlcEpoch.Add(time.Millisecond)},
		{"sub-millisecond step", hlcEpoch.Add(time.Millisecond + 300*time.Microsecond)},
		{"set back an hour", hlcEpoch.Add(-time.Hour)},
		{"still behind", hlcEpoch.Add(-time.Hour + time.Second)},
		{"set back to 1970", time.Unix(0, 0)},
		{"before 1970", time.Unix(-86400, 0)},
		{"caught up", hlcEpoch.Add(time.Millisecond)},
		{"a day on", hlcEpoch.Add(24 * time.Hour)},
	}
	var c sp.Clock
	var prev sp.HLC
	for _, w := range walls {
		got := c.Now(w.at)
		if got <= prev {
			t.Fatalf("%s: Now = %v, not after the previous %v", w.name, got, prev)
		}
		if c.Last() != got {
			t.Fatalf("%s: Last = %v, want the timestamp just issued %v", w.name, c.Last(), got)
		}
		prev = got
	}
	// Once the wall clock is ahead again, timestamps follow it exactly.
	day := hlcEpoch.Add(24 * time.Hour)
	if want := sp.MakeHLC(wallMs(day), 0); prev != want {
		t.Errorf("after the clock moved a day on: Now = %v, want %v", prev, want)
	}
	// Standing still only bumps the logical counter.
	if got, want := c.Now(day), sp.MakeHLC(wallMs(day), 1); got != want {
		t.Errorf("same wall time again: Now = %v, want %v", got, want)
	}
}

// When the logical counter runs out within one millisecond, the clock
// carries into the wall part rather than wrapping back.
func TestClockLogicalOverflowCarries(t *testing.T) {
	w := wallMs(hlcEpoch)
	var c sp.Clock
	c.Observe(sp.MakeHLC(w, 0xffff))
	got := c.Now(hlcEpoch)
	if want := sp.MakeHLC(w+1, 0); got != want {
		t.Fatalf("Now after %v = %v, want %v", sp.MakeHLC(w, 0xffff), got, want)
	}
	if got <= sp.MakeHLC(w, 0xffff) {
		t.Fatalf("Now = %v, not after the last timestamp", got)
	}
	if next := c.Now(hlcEpoch); next != sp.MakeHLC(w+1, 1) {
		t.Errorf("next Now = %v, want %v", next, sp.MakeHLC(w+1, 1))
	}
}

// Receiving an entry from a device whose clock is ahead makes the next local
// edit come after it, so a person's correction is never ordered before
// what it corrects.
func TestClockObserveMovesPast(t *testing.T) {
	var c sp.Clock
	c.Now(hlcEpoch)
	future := sp.MakeHLC(wallMs(hlcEpoch.Add(5*time.Second)), 7)
	c.Observe(future)
	if c.Last() != future {
		t.Fatalf("Last after Observe = %v, want %v", c.Last(), future)
	}
	got := c.Now(hlcEpoch.Add(time.Second))
	if got <= future {
		t.Fatalf("Now = %v, not after the observed %v", got, future)
	}
	if want := future + 1; got != want {
		t.Errorf("Now = %v, want %v (as close to the observed stamp as possible)", got, want)
	}

	// Observing something older changes nothing.
	before := c.Last()
	c.Observe(sp.MakeHLC(wallMs(hlcEpoch.Add(-time.Hour)), 0))
	if c.Last() != before {
		t.Errorf("Observe of an old stamp moved the clock from %v to %v", before, c.Last())
	}
}

// An entry stamped a little ahead (clocks drift) is accepted; one stamped
// beyond the drift bound is held back with an error a person can act on.
func TestClockCheckDrift(t *testing.T) {
	author := idOf(fixedKey("clock-ahead-device"))
	now := hlcEpoch
	at := func(d time.Duration, logical uint16) sp.HLC { return sp.MakeHLC(wallMs(now.Add(d)), logical) }

	cases := []struct {
		name  string
		clock sp.Clock
		stamp sp.HLC
		ahead time.Duration // 0: accepted
		limit time.Duration
	}{
		{"a week old", sp.Clock{}, at(-7*24*time.Hour, 0), 0, 0},
		{"now", sp.Clock{}, at(0, 0), 0, 0},
		{"a minute ahead", sp.Clock{}, at(time.Minute, 3), 0, 0},
		{"exactly MaxDrift ahead", sp.Clock{}, at(sp.DefaultMaxDrift, 0xffff), 0, 0},
		{"a millisecond past MaxDrift", sp.Clock{}, at(sp.DefaultMaxDrift+time.Millisecond, 0), sp.DefaultMaxDrift + time.Millisecond, sp.DefaultMaxDrift},
		{"an hour ahead", sp.Clock{}, at(time.Hour, 0), time.Hour, sp.DefaultMaxDrift},
		{"a year ahead", sp.Clock{}, at(365*24*time.Hour, 0), 365 * 24 * time.Hour, sp.DefaultMaxDrift},
		{"negative MaxDrift means the default", sp.Clock{MaxDrift: -time.Second}, at(5*time.Minute, 0), 0, 0},
		{"custom drift, inside", sp.Clock{MaxDrift: time.Minute}, at(59*time.Second, 0), 0, 0},
		{"custom drift, at the bound", sp.Clock{MaxDrift: time.Minute}, at(time.Minute, 0xffff), 0, 0},
		{"custom drift, beyond", sp.Clock{MaxDrift: time.Minute}, at(2*time.Minute, 0), 2 * time.Minute, time.Minute},
		{"custom wide drift", sp.Clock{MaxDrift: 48 * time.Hour}, at(47*time.Hour, 0), 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := c.clock
			clock.Now(now)
			last := clock.Last()
			err := clock.Check(c.stamp, author, now)
			if clock.Last() != last {
				t.Errorf("Check moved the clock from %v to %v", last, clock.Last())
			}
			if c.ahead == 0 {
				if err != nil {
					t.Fatalf("Check(%v) at %v = %v, want accepted", c.stamp, now, err)
				}
				return
			}
			if !errors.Is(err, sp.ErrClockAhead) {
				t.Fatalf("Check(%v) at %v = %v, want ErrClockAhead", c.stamp, now, err)
			}
			var ae *sp.ClockAheadError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T is not a *ClockAheadError", err)
			}
			if ae.Ahead != c.ahead || ae.Limit != c.limit || ae.Author != author {
				t.Errorf("ClockAheadError{Ahead: %v, Limit: %v, Author: %s}, want {%v, %v, %s}", ae.Ahead, ae.Limit, ae.Author.Short(), c.ahead, c.limit, author.Short())
			}
			msg := err.Error()
			for _, want := range []string{
				c.ahead.Round(time.Second).String(), // how far ahead
				c.limit.String(),                    // what the limit is
				author.Short(),                      // which device
				"Check the date and time",           // what to do
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestHLCParts(t *testing.T) {
	at := time.Date(2026, 1, 15, 12, 34, 56, 789_000_000, time.UTC)
	h := sp.MakeHLC(wallMs(at), 42)
	if h.WallMillis() != wallMs(at) || h.Logical() != 42 {
		t.Errorf("MakeHLC parts: wall %d logical %d, want %d and 42", h.WallMillis(), h.Logical(), wallMs(at))
	}
	if !h.Time().Equal(at) || h.Time().Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", h.Time(), at)
	}
	// Timestamps compare as integers: wall first, then the counter.
	if !(sp.MakeHLC(5, 0xffff) < sp.MakeHLC(6, 0)) || !(sp.MakeHLC(5, 1) < sp.MakeHLC(5, 2)) {
		t.Errorf("timestamps do not order by wall time, then logical counter")
	}
}

func TestHLCString(t *testing.T) {
	cases := []struct {
		h    sp.HLC
		want string
	}{
		{sp.MakeHLC(wallMs(time.Date(2026, 1, 15, 12, 34, 56, 789_000_000, time.UTC)), 42), "2026-01-15T12:34:56.789Z+42"},
		{sp.MakeHLC(wallMs(hlcEpoch), 0), "2026-01-15T12:00:00.000Z+0"},
		{sp.MakeHLC(wallMs(time.Date(2025, 12, 31, 23, 59, 59, 1_000_000, time.UTC)), 0xffff), "2025-12-31T23:59:59.001Z+65535"},
		{0, "1970-01-01T00:00:00.000Z+0"},
	}
	for _, c := range cases {
		if got := c.h.String(); got != c.want {
			t.Errorf("HLC(%d).String() = %q, want %q", uint64(c.h), got, c.want)
		}
	}
}
