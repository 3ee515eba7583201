package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/floe-north/floe/node"
)

// doctorCmd is `floe doctor`: plain checks with plain advice.
type doctorCmd struct {
	quick bool
}

func (*doctorCmd) Name() string     { return "doctor" }
func (*doctorCmd) Synopsis() string { return "check the node's health and say what to do" }
func (*doctorCmd) Usage() string {
	return `Usage: floe doctor [--quick] [--dir DIR] [--json]

Checks what keeps a node healthy and says, for each, what it found and
what to do when something is off:

  store    every row of the store read and checked (as 'floe verify';
           --quick only opens it)
  disk     free space on the disk that holds the node
  clock    this laptop's clock against the newest entries of every
           device (another device's clock ahead, or this one gone back)
  peers    when each peer last synced (a week without is flagged)
  pending  this laptop's changes a peer has not confirmed yet, and
           entries waiting for the daily budget
  budget   the daily sync budget and today's use
  backup   the network's backup key, and the age of this laptop's last
           backup (more than 8 days is flagged)

It exits 1 when a check failed (something needs doing now), 0 otherwise,
warnings included. It opens the node, so stop 'floe serve' or 'floe node
run' first (one program at a time opens a node).
`
}
func (c *doctorCmd) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.quick, "quick", false, "do not read the whole store")
}

// errDoctorFailed makes the exit code 1 after the report is printed.
var errDoctorFailed = errors.New("a check failed; see the advice above")

func (c *doctorCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "doctor"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	checks, err := n.Doctor(ctx, node.DoctorOptions{SkipVerify: c.quick})
	if err != nil {
		return err
	}
	failed := false
	for _, ch := range checks {
		failed = failed || ch.Status == node.CheckFail
	}
	if env.JSON {
		if err := printJSON(env.Out, map[string]any{"checks": checks, "ok": !failed}); err != nil {
			return err
		}
	} else {
		for _, ch := range checks {
			env.Printf("%-5s %-8s %s\n", ch.Status, ch.Name, ch.Found)
			if ch.Advice != "" {
				env.Printf("%-14s -> %s\n", "", ch.Advice)
			}
		}
	}
	if failed {
		return fmt.Errorf("%w", errDoctorFailed)
	}
	return nil
}
