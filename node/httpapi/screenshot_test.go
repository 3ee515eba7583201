package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// TestScreenshots saves the screenshots in docs/webapp.md. It runs only
// when FLOE_SCREENSHOTS names a directory, so CI writes no files:
//
//	FLOE_SCREENSHOTS=$PWD/docs/screenshots go test ./node/httpapi -run TestScreenshots
//
// Every record shown is sample data; the revealed location is the
// fictional planted marker.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("FLOE_SCREENSHOTS")
	if dir == "" {
		t.Skip("set FLOE_SCREENSHOTS to a directory to save the web app's screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	makeHoursConflict(t, f)
	// A hub to sync with, and a trainer's pack installed, for the sync
	// and packs screens.
	withHub(t, f)
	packs := buildTestPacks(t, f)
	admin, err := node.Open(context.Background(), f.srv.cfg.Dir, []byte(pass), f.srv.cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.InstallPack(context.Background(), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(packs.full)), nil }); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	ctx, cancel := browser(t)
	defer cancel()
	url := f.ts.URL

	// shot saves the visible viewport (not the whole page, to keep the
	// files small) as dir/name.
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx2 context.Context) error {
			var png []byte
			if err := chromedp.CaptureScreenshot(&png).Do(ctx2); err != nil {
				return err
			}
			if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
				return fmt.Errorf("%s: not a PNG", name)
			}
			t.Logf("%s: %d KB", name, len(png)/1024)
			return os.WriteFile(filepath.Join(dir, name), png, 0o644)
		})
	}
	laptop := chromedp.EmulateViewport(1100, 800)
	phone := chromedp.EmulateViewport(390, 844)

	var loc string
	err = chromedp.Run(ctx,
		laptop,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible("#passphrase", chromedp.ByID),
		shot("01-unlock.png"),
		chromedp.SendKeys("#passphrase", pass, chromedp.ByID),
		chromedp.Click("#unlock", chromedp.ByID),
		chromedp.WaitVisible("#q", chromedp.ByID),
		chromedp.SendKeys("#q", "shelter", chromedp.ByID),
		chromedp.Click("#search", chromedp.ByID),
		chromedp.WaitVisible(`#results[data-q="shelter"]`, chromedp.ByQuery),
		shot("02-directory-search.png"),
		chromedp.Navigate(url+"/directory?q=women%27s+shelter"),
		chromedp.WaitVisible("#results", chromedp.ByID),
		chromedp.Click("#results a", chromedp.ByQuery),
		chromedp.WaitVisible("#call-intake", chromedp.ByID),
		chromedp.Text("#location", &loc, chromedp.ByID),
		shot("03-service-shelter.png"),
	)
	if err != nil {
		t.Fatal(err)
	}
	noLeak(t, "the location before a reveal", []byte(loc))
	err = chromedp.Run(ctx,
		phone,
		chromedp.Reload(),
		chromedp.WaitVisible("#call-intake", chromedp.ByID),
		shot("04-service-shelter-phone.png"),
		laptop,
		chromedp.Reload(),
		chromedp.WaitVisible("#reveal-pass", chromedp.ByID),
		chromedp.SendKeys("#reveal-pass", pass, chromedp.ByID),
		chromedp.Click("#reveal", chromedp.ByID),
		chromedp.WaitVisible("span[data-hide-after]", chromedp.ByQuery),
		chromedp.Text("#location", &loc, chromedp.ByID),
		// Taken at once: the page hides the location again after 30 seconds.
		shot("05-service-revealed.png"),
	)
	if err != nil || !strings.Contains(loc, fieldkit.CanaryMarker) {
		t.Fatalf("the reveal: %q %v", loc, err)
	}
	// Two outreach records: one with the fewest fields, one urgent and
	// referred; the form is shot filled in, before the second is saved.
	err = chromedp.Run(ctx,
		chromedp.Click("#nav-new", chromedp.ByID),
		chromedp.WaitVisible("#subject", chromedp.ByID),
		chromedp.SendKeys("#community", "Arviat", chromedp.ByID),
		chromedp.SendKeys("#subject", "S-7K3Q", chromedp.ByID),
		chromedp.SetValue("#contact", "phone", chromedp.ByID),
		chromedp.Click("#save", chromedp.ByID),
		chromedp.WaitVisible("#saved", chromedp.ByID),
		chromedp.Click("#nav-new", chromedp.ByID),
		chromedp.WaitVisible("#subject", chromedp.ByID),
		chromedp.SendKeys("#community", "Rankin Inlet", chromedp.ByID),
		chromedp.SetValue("#contact", "in-person", chromedp.ByID),
		chromedp.SendKeys("#subject", "S-2M9D", chromedp.ByID),
		chromedp.SendKeys("#referred_to", "Example Family Safe House (fictional)", chromedp.ByID),
		chromedp.Click("#urgent", chromedp.ByID),
		shot("06-outreach-new.png"),
		chromedp.Click("#save", chromedp.ByID),
		chromedp.WaitVisible("#saved", chromedp.ByID),
		shot("07-outreach-list.png"),
		chromedp.Navigate(url+"/lang?l=iu"),
		chromedp.Navigate(url+"/directory?q=shelter"),
		chromedp.WaitVisible(`html[lang="iu"] #results`, chromedp.ByQuery),
		shot("08-directory-iu.png"),
		chromedp.Navigate(url+"/lang?l=en"),
		chromedp.Navigate(url+"/conflicts"),
		chromedp.WaitVisible(`html[lang="en"] section.conflict`, chromedp.ByQuery),
		shot("09-conflicts.png"),
		chromedp.Navigate(url+"/sync"),
		chromedp.WaitVisible("#megabytes", chromedp.ByID),
		chromedp.SendKeys("#megabytes", "50", chromedp.ByID),
		chromedp.Click("#budget-save", chromedp.ByID),
		chromedp.WaitVisible("#peer-table", chromedp.ByID),
		shot("10-sync.png"),
		chromedp.Navigate(url+"/packs"),
		chromedp.WaitVisible("#packs", chromedp.ByID),
		shot("11-packs.png"),
		chromedp.Navigate(url+"/devices"),
		chromedp.WaitVisible("#devices", chromedp.ByID),
		shot("12-devices.png"),
		chromedp.Navigate(url+"/reports"),
		chromedp.WaitVisible("main table", chromedp.ByQuery),
		shot("13-reports.png"),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The Phones screen with the LAN listener running: a code made for
	// an outreach worker's phone.
	lctx, stop := context.WithCancel(context.Background())
	defer stop()
	lanUp := make(chan struct{})
	go f.srv.ServeLAN(lctx, "127.0.0.1:0", func(string, string) { close(lanUp) })
	<-lanUp
	err = chromedp.Run(ctx,
		chromedp.Navigate(url+"/pairing"),
		chromedp.WaitVisible("#make-code", chromedp.ByID),
		chromedp.SendKeys("#name", "Annie's phone", chromedp.ByID),
		chromedp.SetValue("#role", node.RoleOutreach, chromedp.ByID),
		chromedp.Click("#make-code", chromedp.ByID),
		chromedp.WaitVisible("#code", chromedp.ByID),
		shot("14-pairing.png"),
	)
	if err != nil {
		t.Fatal(err)
	}
}
