package syncproto

import "errors"

// ErrLinkCut is returned by Lockstep when its emulated cut happens.
var ErrLinkCut = errors.New("link cut")

// LockstepOptions tune Lockstep.
type LockstepOptions struct {
	// CutAfterBytes drops every frame once this many bytes, both ways
	// together, have been delivered; a frame that would cross the mark is
	// lost whole. Zero means never.
	CutAfterBytes int64
	// MaxSteps bounds the run; zero means 1000.
	MaxSteps int
}

// LockstepResult describes a Lockstep run.
type LockstepResult struct {
	// Steps counts one-way trips: each step, both sides send all they can
	// and the frames arrive. A round trip is two steps.
	Steps     int
	Delivered int64 // bytes delivered, both ways
}

// RoundTrips is Steps rounded up to whole round trips.
func (r LockstepResult) RoundTrips() int { return (r.Steps + 1) / 2 }

// Lockstep runs two sessions against each other with no link in between,
// in steps, for tests and benchmarks: each step, each side hands out
// everything it can (applying received entries with its apply function),
// and then each side receives what the other sent. It stops when both
// sessions are done, or neither has anything left to do.
func Lockstep(a, b *Session, applyA, applyB func([]Entry) error, opts LockstepOptions) (LockstepResult, error) {
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 1000
	}
	var res LockstepResult
	sides := [2]*Session{a, b}
	applies := [2]func([]Entry) error{applyA, applyB}
	for res.Steps < opts.MaxSteps {
		if a.Done() && b.Done() {
			return res, firstErr(a.Err(), b.Err())
		}
		var outs [2][][]byte
		for i, s := range sides {
			for s.HasReady() {
				rd, err := s.Ready()
				outs[i] = append(outs[i], rd.Frames...)
				if err == nil && len(rd.Apply) > 0 {
					if aerr := applies[i](rd.Apply); aerr != nil {
						return res, aerr
					}
				}
				s.Advance()
				if err != nil {
					break
				}
			}
		}
		if len(outs[0]) == 0 && len(outs[1]) == 0 {
			return res, firstErr(a.Err(), b.Err(), errStalled(a, b))
		}
		res.Steps++
		for i, frames := range outs {
			to := sides[1-i]
			for _, f := range frames {
				if opts.CutAfterBytes > 0 && res.Delivered+int64(len(f)) > opts.CutAfterBytes {
					drain(sides, applies)
					return res, ErrLinkCut
				}
				res.Delivered += int64(len(f))
				p, _, err := NextFrame(f)
				if err != nil {
					return res, err
				}
				if to.Done() {
					continue
				}
				to.Step(p) // an error ends that session; its Abort goes out next step
			}
		}
	}
	return res, errors.New("lockstep: too many steps")
}

// drain applies what each side has received, as a carrier does with the
// batches that arrived before a cut.
func drain(sides [2]*Session, applies [2]func([]Entry) error) {
	for i, s := range sides {
		rd, err := s.Ready()
		if err == nil && len(rd.Apply) > 0 && applies[i](rd.Apply) != nil {
			continue
		}
		s.Advance()
	}
}

func errStalled(a, b *Session) error {
	if a.Done() && b.Done() {
		return nil
	}
	return errors.New("lockstep: both sides stalled before the session was done")
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
