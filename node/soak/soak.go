// Package soak runs two real nodes for a long time under a steady mix of
// work, to show that memory and disk level off: a laptop and a hub edit a
// fixed set of services and record (and later delete) outreach contacts,
// sync over links that are sometimes cut, restart now and then, and back
// up. Every interval it samples the process's resident memory and the
// nodes' disk use. A leak, or a store that never reclaims what merges
// prune, shows as a trend that does not flatten.
package soak

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

// Config sets the run.
type Config struct {
	// Dir holds the two nodes; it must exist and be empty.
	Dir string
	// Duration is how long to run; Every, how often to sample.
	Duration, Every time.Duration
	// Writes is how many writes a second, spread over the two nodes.
	Writes int
	// Services is the size of the directory both nodes edit.
	Services int
	// SyncEvery, RestartEvery and BackupEvery space those events;
	// zero leaves one out. CutPercent of syncs are cut mid-way.
	SyncEvery, RestartEvery, BackupEvery time.Duration
	CutPercent                           int
	// Backup, if set, writes a backup of n into dir (the caller's
	// backup format); BackupEvery spaces the calls.
	Backup func(ctx context.Context, n *node.Node, dir string) error
	// Node is the nodes' options (a cheap key derivation for a run).
	Node node.Options
	// Memory reads the process's resident and anonymous bytes.
	Memory func() (rss, anon int64, ok bool)
	Seed   uint64
}

// Sample is the state at one moment.
type Sample struct {
	Elapsed   time.Duration `json:"elapsed_ns"`
	RSS       int64         `json:"rss_bytes"`
	Anon      int64         `json:"anon_bytes"`
	Disk      int64         `json:"disk_bytes"`
	Entries   uint64        `json:"entries"` // the laptop's
	Writes    int           `json:"writes"`
	Syncs     int           `json:"syncs"`
	Cuts      int           `json:"cut_syncs"`
	Restarts  int           `json:"restarts"`
	Backups   int           `json:"backups"`
	Converged bool          `json:"converged"` // after the last full sync
}

// Report is a run's samples and verdicts.
type Report struct {
	Samples []Sample `json:"samples"`
	// Growth compares the last quarter's mean with the second
	// quarter's: 1.0 is flat.
	RSSGrowth, AnonGrowth, DiskGrowth float64
	LevelsOff                         bool `json:"levels_off"`
}

// Flat is the growth ratio the report still calls levelled off.
const Flat = 1.25

const pass = "soak passphrase"

type soak struct {
	cfg      Config
	ctx      context.Context
	rng      *rand.Rand
	dirs     [2]string
	nodes    [2]*node.Node
	services []sp.RecordID
	outreach []outreachRec
	cur      Sample
	mu       sync.Mutex
}

type outreachRec struct {
	at int // which node wrote it
	id sp.RecordID
}

// Run soaks until the duration passes or ctx ends; sample is called with
// each sample as it is taken.
func Run(ctx context.Context, cfg Config, sample func(Sample)) (Report, error) {
	if cfg.Every <= 0 || cfg.Duration <= 0 || cfg.Writes <= 0 || cfg.Services <= 0 {
		return Report{}, fmt.Errorf("a soak needs a duration, a sample interval, writes and services")
	}
	s := &soak{cfg: cfg, ctx: ctx, rng: rand.New(rand.NewPCG(cfg.Seed, 7))}
	if err := s.setup(); err != nil {
		return Report{}, err
	}
	defer s.close()
	var rep Report
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(cfg.Writes))
	defer tick.Stop()
	nextSample, nextSync := start, start.Add(cfg.SyncEvery)
	nextRestart, nextBackup := start.Add(cfg.RestartEvery), start.Add(cfg.BackupEvery)
	for {
		now := time.Now()
		if now.Sub(start) >= cfg.Duration || ctx.Err() != nil {
			break
		}
		if !now.Before(nextSample) {
			smp, err := s.sample(now.Sub(start))
			if err != nil {
				return rep, err
			}
			rep.Samples = append(rep.Samples, smp)
			if sample != nil {
				sample(smp)
			}
			nextSample = nextSample.Add(cfg.Every)
		}
		if cfg.SyncEvery > 0 && !now.Before(nextSync) {
			if err := s.sync(); err != nil {
				return rep, err
			}
			nextSync = time.Now().Add(cfg.SyncEvery)
		}
		if cfg.RestartEvery > 0 && !now.Before(nextRestart) {
			if err := s.restart(); err != nil {
				return rep, err
			}
			nextRestart = time.Now().Add(cfg.RestartEvery)
		}
		if cfg.Backup != nil && cfg.BackupEvery > 0 && !now.Before(nextBackup) {
			if err := s.backup(); err != nil {
				return rep, err
			}
			nextBackup = time.Now().Add(cfg.BackupEvery)
		}
		if err := s.write(); err != nil {
			return rep, err
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	// A last clean sync: the two must agree.
	if err := s.syncClean(); err != nil {
		return rep, err
	}
	smp, err := s.sample(time.Since(start))
	if err != nil {
		return rep, err
	}
	rep.Samples = append(rep.Samples, smp)
	if sample != nil {
		sample(smp)
	}
	rep.verdict()
	return rep, nil
}

func (r *Report) verdict() {
	n := len(r.Samples)
	if n < 8 {
		return
	}
	mean := func(from, to int, f func(Sample) int64) float64 {
		var sum float64
		for _, s := range r.Samples[from:to] {
			sum += float64(f(s))
		}
		return sum / float64(to-from)
	}
	q := n / 4
	ratio := func(f func(Sample) int64) float64 {
		early := mean(q, 2*q, f)
		if early == 0 {
			return 0
		}
		return mean(n-q, n, f) / early
	}
	r.RSSGrowth = ratio(func(s Sample) int64 { return s.RSS })
	r.AnonGrowth = ratio(func(s Sample) int64 { return s.Anon })
	r.DiskGrowth = ratio(func(s Sample) int64 { return s.Disk })
	r.LevelsOff = r.AnonGrowth < Flat && r.DiskGrowth < Flat
}

func (s *soak) setup() error {
	for i := range s.dirs {
		s.dirs[i] = filepath.Join(s.cfg.Dir, fmt.Sprintf("node%d", i))
	}
	opts := s.cfg.Node
	opts.NetworkName = "soak"
	a, err := node.Init(s.ctx, s.dirs[0], []byte(pass), opts)
	if err != nil {
		return err
	}
	s.nodes[0] = a
	inv, err := a.MakeInvite(node.InviteOptions{Role: node.RoleCoordinator, Areas: []string{"*:*"}, Name: "laptop"})
	if err != nil {
		return err
	}
	opts.Join = &inv
	b, err := node.Init(s.ctx, s.dirs[1], []byte(pass), opts)
	if err != nil {
		return err
	}
	s.nodes[1] = b
	req, err := b.MakeJoinRequest("hub")
	if err != nil {
		return err
	}
	if _, err := a.Admit(s.ctx, req); err != nil {
		return err
	}
	if s.cfg.Backup != nil {
		// The admin's backup key, so the laptop can seal backups to it.
		k, err := a.MakeBackupKey(false)
		if err != nil {
			return err
		}
		if err := a.PublishBackupKey(s.ctx, k); err != nil {
			return err
		}
	}
	if err := s.syncClean(); err != nil {
		return fmt.Errorf("the first sync: %w", err)
	}
	batch := make([][]node.Change, 0, s.cfg.Services)
	for i := 0; i < s.cfg.Services; i++ {
		batch = append(batch, []node.Change{{Field: "name/en", Value: fmt.Sprintf("Soak test service %d (fictional)", i)},
			{Field: "kind", Value: node.ServiceKinds[i%len(node.ServiceKinds)]}, {Field: "phone", Value: "867-555-0100"}})
	}
	ids, err := a.AddBatch(s.ctx, node.Directory, batch)
	if err != nil {
		return err
	}
	s.services = ids
	return s.syncClean()
}

func (s *soak) close() {
	for _, n := range s.nodes {
		if n != nil {
			n.Close()
		}
	}
}

// write is one write on a random node: nine in ten edit a service's hours
// or phone (the old value is pruned once the edit syncs); one in ten
// records an outreach contact, deleting the oldest once there are 200
// (a deleted record keeps a tombstone: the only part of the store that
// grows with time under this load).
func (s *soak) write() error {
	i := s.rng.IntN(2)
	n := s.nodes[i]
	var err error
	switch r := s.rng.IntN(10); {
	case r < 9:
		id := s.services[s.rng.IntN(len(s.services))]
		field, value := "hours", fmt.Sprintf("%d-%d", 8+s.rng.IntN(3), 16+s.rng.IntN(5))
		if r < 3 {
			field, value = "phone", fmt.Sprintf("867-555-%04d", s.rng.IntN(10000))
		}
		err = n.Update(s.ctx, node.Directory, id, []node.Change{{Field: field, Value: value}})
	default:
		if len(s.outreach) >= 200 {
			o := s.outreach[0]
			s.outreach = s.outreach[1:]
			if err = s.nodes[o.at].Delete(s.ctx, node.Outreach, o.id); err != nil {
				break
			}
		}
		var id sp.RecordID
		id, err = n.Add(s.ctx, node.Outreach, []node.Change{{Field: "date", Value: time.Now().Format(time.DateOnly)},
			{Field: "community", Value: "Soak Bay (fictional)"}, {Field: "contact", Value: "phone"},
			{Field: "subject", Value: fmt.Sprintf("S-%d%03X", s.rng.IntN(10), s.rng.IntN(1<<12))}})
		if err == nil {
			s.outreach = append(s.outreach, outreachRec{i, id})
		}
	}
	if err != nil {
		return fmt.Errorf("a write on node %d: %w", i, err)
	}
	s.cur.Writes++
	return nil
}

func (s *soak) sync() error {
	prof := linkemu.Profile{}
	cut := s.rng.IntN(100) < s.cfg.CutPercent
	if cut {
		prof.CutAfterBytes = 1 + s.rng.Int64N(20_000)
	}
	err := s.session(prof)
	s.cur.Syncs++
	if err != nil && cut {
		s.cur.Cuts++
		return nil
	}
	if err == nil {
		s.cur.Converged = s.equal()
	}
	return err
}

func (s *soak) syncClean() error {
	if err := s.session(linkemu.Profile{}); err != nil {
		return err
	}
	if !s.equal() {
		return fmt.Errorf("a complete session left the two nodes different")
	}
	s.cur.Converged = true
	return nil
}

func (s *soak) session(prof linkemu.Profile) error {
	a, b := s.nodes[0], s.nodes[1]
	ca, cb := linkemu.Pipe(prof)
	var wg sync.WaitGroup
	var errB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errB = b.SyncStream(s.ctx, cb, false, a.ID(), node.SyncOptions{})
		cb.Close()
	}()
	_, errA := a.SyncStream(s.ctx, ca, true, b.ID(), node.SyncOptions{})
	ca.Close()
	wg.Wait()
	if errA == nil {
		errA = errB
	}
	return errA
}

func (s *soak) equal() bool {
	var h [2]string
	for i, n := range s.nodes {
		st, err := n.Status(s.ctx)
		if err != nil {
			return false
		}
		h[i] = st.StateHash
	}
	return h[0] == h[1]
}

func (s *soak) restart() error {
	i := s.rng.IntN(2)
	if err := s.nodes[i].Close(); err != nil {
		return err
	}
	s.nodes[i] = nil
	n, err := node.Open(s.ctx, s.dirs[i], []byte(pass), s.cfg.Node)
	if err != nil {
		return fmt.Errorf("reopening node %d: %w", i, err)
	}
	s.nodes[i] = n
	s.cur.Restarts++
	return nil
}

// backup writes a backup of the laptop into Dir/backups, keeping the
// newest three, as a scheduled backup with rotation would.
func (s *soak) backup() error {
	dir := filepath.Join(s.cfg.Dir, "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := s.cfg.Backup(s.ctx, s.nodes[0], dir); err != nil {
		return fmt.Errorf("a backup: %w", err)
	}
	s.cur.Backups++
	return nil
}

func (s *soak) sample(el time.Duration) (Sample, error) {
	smp := s.cur
	smp.Elapsed = el
	if s.cfg.Memory != nil {
		if rss, anon, ok := s.cfg.Memory(); ok {
			smp.RSS, smp.Anon = rss, anon
		}
	}
	for _, d := range s.dirs {
		n, err := dirSize(d)
		if err != nil {
			return smp, err
		}
		smp.Disk += n
	}
	st, err := s.nodes[0].Status(s.ctx)
	if err != nil {
		return smp, err
	}
	smp.Entries = st.Entries
	return smp, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}
