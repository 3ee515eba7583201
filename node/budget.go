package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	sp "github.com/floe-north/floe/syncproto"
)

// The daily sync budget. A laptop on a metered link (satellite billed by
// the megabyte) sets a number of bytes per day. Sessions count what they
// move, both ways, against the day (this laptop's local calendar day).
// While the day's budget lasts, a session may use what is left of it;
// once it is spent, sessions still run, but only the members lane
// (certificates, revocations, key epochs) and urgent referrals go, in
// both directions; everything else, attachments included, waits for the
// next day. A session that starts with budget left stops sending the
// lower lanes when it would go over. A day can still overshoot: by the
// urgent lanes, the reconciliation's own messages, and what is in flight
// when both sides send at once (each counts what it received so far, a
// few frames of 64 KiB at most). Sessions at the same time share the
// remainder (reserveBudget), so they do not each spend it.

const (
	metaDailyBytes = "settings/daily-bytes"
	metaBudgetUsed = "budget/used"
)

// MaxDailyBytes bounds the setting (1 TB): a larger number is a typo.
const MaxDailyBytes = 1 << 40

// budgetDay is the day's counters.
type budgetDay struct {
	Day    string           `cbor:"1,keyasint"` // YYYY-MM-DD, local time
	Used   int64            `cbor:"2,keyasint"`
	ByPeer map[string]int64 `cbor:"3,keyasint,omitempty"`
}

// Budget is the daily budget's state.
type Budget struct {
	// DailyBytes is the budget; zero means none (unmetered).
	DailyBytes int64  `json:"daily_bytes"`
	Day        string `json:"day"`
	Used       int64  `json:"used_bytes"`
	// Remaining is what today's sessions may still use; zero once spent
	// (and when there is no budget).
	Remaining int64 `json:"remaining_bytes"`
	// Spent says only the urgent lanes go until the day ends.
	Spent bool `json:"spent"`
	// ByPeer is today's bytes with each peer, by device ID.
	ByPeer map[string]int64 `json:"by_peer,omitempty"`
}

// SetDailyBudget sets the bytes per day that sync may use; zero removes
// the budget.
func (n *Node) SetDailyBudget(bytes int64) error {
	if bytes < 0 || bytes > MaxDailyBytes {
		return &FieldError{Collection: "settings", Field: "daily_bytes", Msg: fmt.Sprintf("a daily budget is from 0 (none) to %d bytes", int64(MaxDailyBytes))}
	}
	if bytes == 0 {
		return n.st.DeleteMeta(metaDailyBytes)
	}
	return n.st.PutMeta(metaDailyBytes, []byte(fmt.Sprint(bytes)))
}

func (n *Node) dailyBytes() (int64, error) {
	b, err := n.st.GetMeta(metaDailyBytes)
	if errors.Is(err, sp.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v int64
	if _, err := fmt.Sscan(string(b), &v); err != nil || v < 0 {
		return 0, fmt.Errorf("the stored daily budget %q is damaged; set it again", b)
	}
	return v, nil
}

func (n *Node) today() string { return n.now().In(time.Local).Format(time.DateOnly) }

// loadDay reads today's counters (zero on a new day).
func (n *Node) loadDay() (budgetDay, error) {
	d := budgetDay{Day: n.today()}
	b, err := n.st.GetMeta(metaBudgetUsed)
	if errors.Is(err, sp.ErrNotFound) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	var old budgetDay
	if err := cbor.Unmarshal(b, &old); err != nil {
		// Counters only: a damaged row starts the day again rather than
		// stopping sync.
		n.log.Warn("the sync budget's counters were unreadable; counting today from zero", "err", err)
		return d, nil
	}
	if old.Day == d.Day {
		d = old
	}
	return d, nil
}

// Budget reports the daily budget and today's use.
func (n *Node) Budget() (Budget, error) {
	n.budgetMu.Lock()
	defer n.budgetMu.Unlock()
	limit, err := n.dailyBytes()
	if err != nil {
		return Budget{}, err
	}
	d, err := n.loadDay()
	if err != nil {
		return Budget{}, err
	}
	b := Budget{DailyBytes: limit, Day: d.Day, Used: d.Used, ByPeer: d.ByPeer}
	if limit > 0 {
		b.Remaining = max(limit-d.Used, 0)
		b.Spent = b.Remaining == 0
	}
	return b, nil
}

// spend counts a session's bytes against today.
func (n *Node) spend(peer sp.DeviceID, bytes int64) {
	if bytes <= 0 {
		return
	}
	n.budgetMu.Lock()
	defer n.budgetMu.Unlock()
	d, err := n.loadDay()
	if err == nil {
		d.Used += bytes
		if d.ByPeer == nil {
			d.ByPeer = map[string]int64{}
		}
		if len(d.ByPeer) < MaxPeers {
			d.ByPeer[peer.String()] += bytes
		}
		var b []byte
		if b, err = cbor.Marshal(d); err == nil {
			err = n.st.PutMeta(metaBudgetUsed, b)
		}
	}
	if err != nil {
		n.log.Warn("could not count the session against the daily budget", "err", err)
	}
}

// reserveBudget gives a starting session what is left of today's budget,
// less what sessions running now have been given, so that sessions at
// the same time (an incoming one beside an outgoing one) cannot each
// spend the whole remainder. settle counts what the session used and
// frees its reservation. capped is false without a budget.
func (n *Node) reserveBudget(peer sp.DeviceID) (allowance int64, capped bool, settle func(used int64), err error) {
	b, err := n.Budget()
	if err != nil {
		return 0, false, nil, err
	}
	if b.DailyBytes == 0 {
		return 0, false, func(used int64) { n.spend(peer, used) }, nil
	}
	n.budgetMu.Lock()
	allowance = max(b.Remaining-n.reserved, 0)
	n.reserved += allowance
	n.budgetMu.Unlock()
	return allowance, true, func(used int64) {
		n.budgetMu.Lock()
		n.reserved -= allowance
		n.budgetMu.Unlock()
		n.spend(peer, used)
	}, nil
}
