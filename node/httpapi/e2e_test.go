package httpapi

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// chromium finds the browser; CI installs Debian's and sets
// FLOE_REQUIRE_BROWSER so these tests cannot pass by skipping there.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("FLOE_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium at /usr/bin/chromium; .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium here; install Debian's chromium package to run the browser tests")
	return ""
}

func browser(t *testing.T) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	// The profile is removed by hand: Chromium may still be writing to it
	// for a moment after it is told to quit.
	profile, err := os.MkdirTemp("", "floe-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	return ctx, func() {
		cancelT()
		cancelC()
		cancelA()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// unlockInBrowser opens the web app at base and unlocks it with the
// form; the directory's search box shows after.
func unlockInBrowser(base string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/"),
		chromedp.WaitVisible("#passphrase", chromedp.ByID),
		chromedp.SendKeys("#passphrase", pass, chromedp.ByID),
		chromedp.Click("#unlock", chromedp.ByID),
		chromedp.WaitVisible("#q", chromedp.ByID),
	}
}

// The screens in a real browser: unlock, search, a service, the shelter's
// call-intake path and its location masked until an audited reveal, an
// outreach record, the locale switched to Inuktitut, and the idle lock.
func TestWebApp(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := browser(t)
	defer cancel()
	var text, loc string
	err := chromedp.Run(ctx,
		chromedp.Navigate(f.ts.URL+"/"),
		chromedp.WaitVisible("#passphrase", chromedp.ByID),
		chromedp.SendKeys("#passphrase", "wrong passphrase", chromedp.ByID),
		chromedp.Click("#unlock", chromedp.ByID),
		chromedp.WaitVisible("#error", chromedp.ByID),
		chromedp.SendKeys("#passphrase", pass, chromedp.ByID),
		chromedp.Click("#unlock", chromedp.ByID),
		chromedp.WaitVisible("#q", chromedp.ByID),
		chromedp.SendKeys("#q", "kamatsiaqtut", chromedp.ByID),
		chromedp.Click("#search", chromedp.ByID),
		chromedp.WaitVisible(`#results[data-q="kamatsiaqtut"]`, chromedp.ByQuery),
		chromedp.Click("#results a", chromedp.ByQuery),
		chromedp.WaitVisible("#service-name", chromedp.ByID),
		chromedp.Text("#fields", &text, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "1-800-265-3333") {
		t.Fatalf("the service page: %q", text)
	}
	// A shelter: call intake, the location masked, then revealed.
	err = chromedp.Run(ctx,
		chromedp.Navigate(f.ts.URL+"/directory?q=women%27s+shelter"),
		chromedp.WaitVisible("#results", chromedp.ByID),
		chromedp.Click("#results a", chromedp.ByQuery),
		chromedp.WaitVisible("#call-intake", chromedp.ByID),
		chromedp.Text("#location", &loc, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	noLeak(t, "the location before a reveal", []byte(loc))
	err = chromedp.Run(ctx,
		chromedp.SendKeys("#reveal-pass", pass, chromedp.ByID),
		chromedp.Click("#reveal", chromedp.ByID),
		chromedp.WaitVisible("span[data-hide-after]", chromedp.ByQuery),
		chromedp.Text("#location", &loc, chromedp.ByID),
	)
	if err != nil || !strings.Contains(loc, fieldkit.CanaryMarker) {
		t.Fatalf("the reveal: %q %v", loc, err)
	}
	// An outreach record with the fewest fields.
	var saved string
	err = chromedp.Run(ctx,
		chromedp.Click("#nav-new", chromedp.ByID),
		chromedp.WaitVisible("#subject", chromedp.ByID),
		chromedp.SendKeys("#community", "Arviat", chromedp.ByID),
		chromedp.SendKeys("#subject", "S-7K3Q", chromedp.ByID),
		chromedp.SetValue("#contact", "phone", chromedp.ByID),
		chromedp.Click("#save", chromedp.ByID),
		chromedp.WaitVisible("#saved", chromedp.ByID),
		chromedp.Text("#outreach", &saved, chromedp.ByID),
	)
	if err != nil || !strings.Contains(saved, "S-7K3Q") {
		t.Fatalf("the outreach record: %q %v", saved, err)
	}
	// The locale: Inuktitut (syllabics), with English shown, marked, where
	// a string is not translated yet.
	var nav, where string
	var missing int
	err = chromedp.Run(ctx,
		chromedp.Click("#lang-iu", chromedp.ByID),
		chromedp.WaitVisible(`html[lang="iu"] #nav-directory`, chromedp.ByQuery),
		chromedp.Text("#nav-directory", &nav, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll('.missing').length`, &missing),
		chromedp.Evaluate(`location.pathname`, &where),
	)
	if err != nil || !strings.Contains(nav, "ᐃᑲᔪᖅᑏᑦ") || missing == 0 {
		t.Fatalf("the Inuktitut locale: %q, %d marked strings, %v", nav, missing, err)
	}
	if where != "/outreach" {
		t.Fatalf("switching the language moved the page to %s", where)
	}
	// Idle: the node locks itself, and the next page is the unlock page.
	f.now = f.now.Add(DefaultIdleLock + time.Minute)
	f.srv.Tick()
	err = chromedp.Run(ctx,
		chromedp.Navigate(f.ts.URL+"/directory"),
		chromedp.WaitVisible("#passphrase", chromedp.ByID),
	)
	if err != nil || f.srv.Unlocked() {
		t.Fatalf("after the idle lock: %v", err)
	}
}

// A coordinator's laptop holds the shelter's sealed location but is not
// in its audience: the browser's reveal is refused and shows nothing.
func TestWebRevealRefusedOutsideTheAudience(t *testing.T) {
	f := newFixture(t)
	coord := joinLaptop(t, f, node.RoleCoordinator, "*:*")
	ctx, cancel := browser(t)
	defer cancel()
	var msg, loc, page string
	err := chromedp.Run(ctx,
		unlockInBrowser(coord.ts.URL),
		chromedp.Navigate(coord.ts.URL+"/directory?q=women%27s+shelter"),
		chromedp.WaitVisible("#results", chromedp.ByID),
		chromedp.Click("#results a", chromedp.ByQuery),
		chromedp.WaitVisible("#reveal-pass", chromedp.ByID),
		chromedp.SendKeys("#reveal-pass", pass, chromedp.ByID),
		chromedp.Click("#reveal", chromedp.ByID),
		chromedp.WaitVisible("#reveal-error", chromedp.ByID),
		chromedp.Text("#reveal-error", &msg, chromedp.ByID),
		chromedp.Text("#location", &loc, chromedp.ByID),
		chromedp.OuterHTML("html", &page, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "audience") {
		t.Fatalf("a reveal outside the audience: %q / %q", msg, loc)
	}
	noLeak(t, "the page after a reveal outside the audience", []byte(page))
}

// Two laptops change a service's hours apart; the coordinator sees both
// values side by side in the browser and keeps one.
func TestWebResolvesAConflict(t *testing.T) {
	f := newFixture(t)
	makeHoursConflict(t, f)
	ctx, cancel := browser(t)
	defer cancel()
	var values string
	err := chromedp.Run(ctx,
		unlockInBrowser(f.ts.URL),
		chromedp.Click("#nav-conflicts", chromedp.ByID),
		chromedp.WaitVisible("section.conflict", chromedp.ByQuery),
		chromedp.Text("section.conflict", &values, chromedp.ByQuery),
		chromedp.Click("section.conflict button.keep", chromedp.ByQuery),
		chromedp.WaitVisible("#resolved", chromedp.ByID),
		chromedp.WaitVisible("#none", chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(values, "Mon-Fri 9-5") || !strings.Contains(values, "Tue and Thu 10-4") {
		t.Fatalf("the two values side by side: %q", values)
	}
}

// makeHoursConflict has the fixture's laptop and a coordinator's change
// the sample legal clinic's hours apart, then exchange entries: the
// fixture's node holds both values. Both nodes are closed after.
func makeHoursConflict(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	a, b, _, _ := joinNodes(t, f, node.RoleCoordinator, "*:*")
	defer a.Close()
	defer b.Close()
	hits, err := a.Search(ctx, "legal clinic", 1)
	if err != nil || len(hits) == 0 {
		t.Fatalf("the legal clinic: %v", err)
	}
	id, _ := sp.ParseRecordID(hits[0].ID)
	if err := a.Update(ctx, node.Directory, id, []node.Change{{Field: "hours", Value: "Mon-Fri 9-5"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, node.Directory, id, []node.Change{{Field: "hours", Value: "Tue and Thu 10-4"}}); err != nil {
		t.Fatal(err)
	}
	swapEntries(t, a, b)
}
