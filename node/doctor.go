package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// The doctor: a plain check of what keeps a node healthy, for someone
// with no IT staff. Each check says what it found and, when something is
// off, what to do.

// Check states.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckFail = "fail"
)

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Found says what the check saw, in a sentence.
	Found string `json:"found"`
	// Advice says what to do; empty when all is well.
	Advice string `json:"advice,omitempty"`
}

// DoctorOptions tune Doctor; the zero value is the usual.
type DoctorOptions struct {
	// SkipVerify leaves out the full read of the store (minutes on a
	// large one).
	SkipVerify bool
	// Stale is how long a peer may go without a sync before the doctor
	// says so; zero means 7 days.
	Stale time.Duration
	// BackupAge is how old the last backup may be before the doctor
	// says so; zero means 8 days (a weekly backup and a day's grace).
	BackupAge time.Duration
	// Drift is how far ahead of this laptop's clock an entry may be
	// stamped before the doctor says a clock is off; zero means 2
	// minutes. (Sync holds back entries more than 10 minutes ahead, so
	// those stored are within that.)
	Drift time.Duration
}

// Doctor runs every check. A check that cannot run is reported as failed
// with the reason; Doctor's own error is only for a closed node.
func (n *Node) Doctor(ctx context.Context, opts DoctorOptions) ([]Check, error) {
	if opts.Stale <= 0 {
		opts.Stale = 7 * 24 * time.Hour
	}
	if opts.BackupAge <= 0 {
		opts.BackupAge = 8 * 24 * time.Hour
	}
	if opts.Drift <= 0 {
		opts.Drift = 2 * time.Minute
	}
	if n.st == nil {
		return nil, ErrLocked
	}
	var out []Check
	add := func(c Check) { out = append(out, c) }
	add(n.checkStore(ctx, opts))
	add(n.checkDisk())
	add(n.checkClockDrift(ctx, opts))
	peers, err := n.PeerStatuses(ctx)
	if err != nil {
		add(Check{Name: "peers", Status: CheckFail, Found: "the peer list could not be read: " + err.Error(), Advice: "run 'floe verify'"})
	} else {
		add(n.checkPeers(peers, opts))
		add(checkPending(peers))
	}
	add(n.checkBudget())
	add(n.checkBackup(opts))
	return out, nil
}

func (n *Node) checkBackup(opts DoctorOptions) Check {
	c := Check{Name: "backup"}
	at, file, ok := n.LastBackup()
	switch {
	case !n.HasBackupKey():
		c.Status, c.Found = CheckWarn, "this network has no backup key yet, so no backup can be written"
		c.Advice = "on the admin's laptop: floe backup key new --out FILE (keep the file offline), then sync"
	case !ok:
		c.Status, c.Found = CheckWarn, "this laptop has never written a backup"
		c.Advice = "plug in a USB drive and run 'floe backup --into FOLDER', or leave 'floe node run --backup-dir FOLDER' running"
	case n.now().Sub(at) > opts.BackupAge:
		c.Status = CheckWarn
		c.Found = fmt.Sprintf("the last backup, %s, is %d days old", file, int(n.now().Sub(at).Hours()/24))
		c.Advice = "write a new one: 'floe backup --into FOLDER' (a laptop lost today would lose what was written since)"
	default:
		c.Status, c.Found = CheckOK, fmt.Sprintf("last backup %s, %s", at.Format("2006-01-02 15:04 UTC"), file)
	}
	return c
}

func (n *Node) checkStore(ctx context.Context, opts DoctorOptions) Check {
	c := Check{Name: "store"}
	if opts.SkipVerify {
		sum, err := n.st.Summary(ctx)
		if err != nil {
			c.Status, c.Found, c.Advice = CheckFail, "the store's summary could not be read: "+err.Error(), "run 'floe verify' and restore from a backup if it finds damage"
			return c
		}
		c.Status, c.Found = CheckOK, fmt.Sprintf("opens; %d entries (not read in full: run without --quick for that)", sum.Digest.Count)
		return c
	}
	rep, err := n.st.Verify(ctx)
	switch {
	case err != nil:
		c.Status, c.Found, c.Advice = CheckFail, "the store could not be read through: "+err.Error(), "copy the node's folder somewhere safe, then restore from the latest backup ('floe restore')"
	case !rep.OK():
		c.Status = CheckFail
		c.Found = fmt.Sprintf("%d problems, the first: %s", rep.ProblemCount, first(rep.Problems))
		c.Advice = "copy the node's folder somewhere safe, then restore from the latest backup ('floe restore'); what peers hold comes back at the next sync"
	default:
		c.Status, c.Found = CheckOK, fmt.Sprintf("every row checks out: %d entries, %d attachment chunks", rep.Entries, rep.Chunks)
	}
	return c
}

func first(ss []string) string {
	if len(ss) == 0 {
		return "(none listed)"
	}
	return ss[0]
}

func (n *Node) checkDisk() Check {
	c := Check{Name: "disk"}
	free, err := n.st.FreeSpace()
	if errors.Is(err, store.ErrFreeSpaceUnknown) || err != nil {
		c.Status, c.Found = CheckWarn, "this system does not tell how much disk is free"
		c.Advice = "keep an eye on the disk: Floe refuses writes when it fills"
		return c
	}
	min := n.st.MinFree()
	size, _ := n.st.Size()
	c.Found = fmt.Sprintf("%s free; the node takes %s", byteSize(int64(free)), byteSize(size))
	switch {
	case free < min:
		c.Status = CheckFail
		c.Advice = fmt.Sprintf("Floe refuses writes below %s free: delete other files or move the node to a larger disk now", byteSize(int64(min)))
	case free < 4*min || (size > 0 && free < uint64(size)):
		c.Status = CheckWarn
		c.Advice = "the disk is nearly full: free some space soon (a backup or a compaction needs room too)"
	default:
		c.Status = CheckOK
	}
	return c
}

// checkClockDrift compares this laptop's clock with the newest entries of each
// author: an entry stamped well ahead of now means one of the two clocks
// is off (this laptop's behind, or the author's ahead). Entries so
// stamped are held back by sync until the clock passes them.
func (n *Node) checkClockDrift(ctx context.Context, opts DoctorOptions) Check {
	c := Check{Name: "clock"}
	now := n.now()
	newest := map[sp.DeviceID]uint64{}
	err := n.Entries(ctx, func(e sp.Entry) error {
		if t := e.Time.WallMillis(); t > newest[e.Author] {
			newest[e.Author] = t
		}
		return nil
	})
	if err != nil {
		c.Status, c.Found, c.Advice = CheckFail, "the entries could not be read: "+err.Error(), "run 'floe verify'"
		return c
	}
	var worst time.Duration
	var who sp.DeviceID
	for d, t := range newest {
		if ahead := time.UnixMilli(int64(t)).Sub(now); ahead > worst {
			worst, who = ahead, d
		}
	}
	c.Found = fmt.Sprintf("this laptop says %s", now.UTC().Format("2006-01-02 15:04 UTC"))
	switch {
	case worst > opts.Drift && who == n.id:
		c.Status = CheckFail
		c.Found += fmt.Sprintf("; this laptop's own newest entry is stamped %s ahead of it: its clock went back", worst.Round(time.Minute))
		c.Advice = "set the date and time (and time zone) right; until then new writes wait for the clock to pass the old ones"
	case worst > opts.Drift:
		c.Status = CheckWarn
		c.Found += fmt.Sprintf("; entries by %s are stamped %s ahead of it", n.deviceName(who), worst.Round(time.Minute))
		c.Advice = "check this laptop's date, time and time zone; if they are right, the other device's clock is ahead: set it right there"
	default:
		c.Status = CheckOK
		c.Found += "; no entry is stamped ahead of it"
	}
	return c
}

// deviceName is a device's name from its certificate, or its short ID.
func (n *Node) deviceName(d sp.DeviceID) string {
	if cert, ok := n.trust.cert(d); ok && cert.Name != "" {
		return cert.Name + " (" + d.Short() + ")"
	}
	return d.Short()
}

func (n *Node) checkPeers(peers []PeerStatus, opts DoctorOptions) Check {
	c := Check{Name: "peers"}
	if len(peers) == 0 {
		c.Status, c.Found = CheckWarn, "no peers: this laptop syncs with nobody"
		c.Advice = "add the hub or the coordinator's laptop ('floe peer add'), or carry bundles ('floe bundle export')"
		return c
	}
	now := n.now()
	var stale []string
	for _, p := range peers {
		name := p.Name
		if name == "" {
			name = shortDevice(p.Device)
		}
		switch {
		case p.LastSync.IsZero():
			stale = append(stale, name+" (never)")
		case now.Sub(p.LastSync) > opts.Stale:
			stale = append(stale, fmt.Sprintf("%s (%d days ago)", name, int(now.Sub(p.LastSync).Hours()/24)))
		}
	}
	if len(stale) == 0 {
		c.Status, c.Found = CheckOK, fmt.Sprintf("%d peers, each synced within %d days", len(peers), int(opts.Stale.Hours()/24))
		return c
	}
	c.Status = CheckWarn
	c.Found = fmt.Sprintf("%d of %d peers not synced lately: %s", len(stale), len(peers), joinMax(stale, 5))
	c.Advice = "when a link is up, run 'floe sync PEER' (or leave 'floe serve' or 'floe node run' running); with no link, carry a bundle on the next flight"
	return c
}

func shortDevice(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func joinMax(ss []string, max int) string {
	out := ""
	for i, s := range ss {
		if i == max {
			return out + fmt.Sprintf(" and %d more", len(ss)-max)
		}
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

func checkPending(peers []PeerStatus) Check {
	c := Check{Name: "pending"}
	most, who, waiting := 0, "", uint64(0)
	for _, p := range peers {
		if p.EntriesPending > most {
			most, who = p.EntriesPending, p.Name
			if who == "" {
				who = shortDevice(p.Device)
			}
		}
		waiting += p.Waiting
	}
	switch {
	case most == 0:
		c.Status, c.Found = CheckOK, "every peer has confirmed this laptop's changes"
	default:
		c.Status = CheckWarn
		c.Found = fmt.Sprintf("%d of this laptop's changes are not yet confirmed by %s", most, who)
		c.Advice = "they go at the next sync with that peer, or in a bundle for it ('floe bundle export --for PEER')"
	}
	if waiting > 0 {
		c.Found += fmt.Sprintf("; %d entries wait for the daily budget", waiting)
	}
	return c
}

func (n *Node) checkBudget() Check {
	c := Check{Name: "budget"}
	b, err := n.Budget()
	switch {
	case err != nil:
		c.Status, c.Found, c.Advice = CheckFail, "the sync budget could not be read: "+err.Error(), "set it again ('floe node run --daily-bytes')"
	case b.DailyBytes == 0:
		c.Status, c.Found = CheckOK, fmt.Sprintf("no daily budget; %s used today", byteSize(b.Used))
	case b.Spent:
		c.Status = CheckWarn
		c.Found = fmt.Sprintf("today's budget of %s is spent (%s used): only revocations and urgent referrals go until midnight", byteSize(b.DailyBytes), byteSize(b.Used))
		c.Advice = "if this happens most days, raise the budget or carry bundles for the bulk"
	default:
		c.Status, c.Found = CheckOK, fmt.Sprintf("%s of the daily %s used", byteSize(b.Used), byteSize(b.DailyBytes))
	}
	return c
}
