package syncproto

import (
	"errors"
	"fmt"
	"time"
)

// HLC is a hybrid logical clock timestamp: milliseconds since the Unix epoch
// in the top 48 bits and a logical counter in the low 16. Timestamps compare
// as plain integers.
type HLC uint64

const logicalBits = 16

// MakeHLC builds a timestamp from wall milliseconds and a logical counter.
func MakeHLC(wallMillis uint64, logical uint16) HLC {
	return HLC(wallMillis<<logicalBits | uint64(logical))
}

// WallMillis is the wall-clock part, in milliseconds since the epoch.
func (t HLC) WallMillis() uint64 { return uint64(t) >> logicalBits }

// Logical is the logical counter.
func (t HLC) Logical() uint16 { return uint16(t) }

// Time is the wall-clock part as a time.Time in UTC.
func (t HLC) Time() time.Time { return time.UnixMilli(int64(t.WallMillis())).UTC() }

func (t HLC) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format("2006-01-02T15:04:05.000Z"), t.Logical())
}

// DefaultMaxDrift is how far ahead of the local clock an entry may be
// stamped before it is held back.
const DefaultMaxDrift = 10 * time.Minute

// ErrClockAhead means an entry was stamped further in the future than the
// drift bound allows. The entry was not applied.
var ErrClockAhead = errors.New("entry is stamped too far in the future")

// ClockAheadError carries the details of an ErrClockAhead.
type ClockAheadError struct {
	Author DeviceID
	Ahead  time.Duration
	Limit  time.Duration
}

func (e *ClockAheadError) Error() string {
	return fmt.Sprintf("an entry from %s is stamped %s ahead of this laptop's clock (the limit is %s); it was held back, not merged. Check the date and time on that device and on this one",
		e.Author.Short(), (e.Ahead + time.Second - 1).Truncate(time.Second), e.Limit)
}

func (e *ClockAheadError) Unwrap() error { return ErrClockAhead }

// Clock is a hybrid logical clock. It is pure: the caller passes the wall
// time in. The zero value is ready to use with DefaultMaxDrift.
type Clock struct {
	last     HLC
	MaxDrift time.Duration // 0 means DefaultMaxDrift
}

// Last is the greatest timestamp the clock has issued or observed.
func (c *Clock) Last() HLC { return c.last }

// MaxDriftOrDefault is the drift bound in force.
func (c *Clock) MaxDriftOrDefault() time.Duration { return c.maxDrift() }

func (c *Clock) maxDrift() time.Duration {
	if c.MaxDrift <= 0 {
		return DefaultMaxDrift
	}
	return c.MaxDrift
}

func wallOf(now time.Time) uint64 {
	ms := now.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// Now issues a timestamp greater than every timestamp issued or observed
// before, and as close to now as that allows.
func (c *Clock) Now(now time.Time) HLC {
	t := MakeHLC(wallOf(now), 0)
	if t <= c.last {
		t = c.last + 1 // carries into the wall part when the counter overflows
	}
	c.last = t
	return t
}

// Check refuses a timestamp that lies further ahead of now than the drift
// bound. It does not change the clock.
func (c *Clock) Check(t HLC, author DeviceID, now time.Time) error {
	limit := MakeHLC(wallOf(now.Add(c.maxDrift())), 1<<logicalBits-1)
	if t > limit {
		ahead := time.Duration(t.WallMillis()-wallOf(now)) * time.Millisecond
		return &ClockAheadError{Author: author, Ahead: ahead, Limit: c.maxDrift()}
	}
	return nil
}

// Observe moves the clock past a timestamp seen in an applied entry, so that
// the next local write is ordered after it.
func (c *Clock) Observe(t HLC) {
	if t > c.last {
		c.last = t
	}
}
