package httpapi

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Every screen on a phone-sized screen (390 by 844 CSS pixels): the page
// itself never scrolls sideways (a wide table scrolls inside its own
// box), and the menu reaches every screen the caller may use.
func TestEveryScreenFitsAPhone(t *testing.T) {
	f := newFixture(t)
	makeHoursConflict(t, f)
	ctx, cancel := browser(t)
	defer cancel()
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844),
		unlockInBrowser(f.ts.URL),
	); err != nil {
		t.Fatal(err)
	}
	var links []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll('header a[id^="nav-"]')).map(a => a.getAttribute('href'))`, &links)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/directory", "/outreach", "/outreach/new", "/conflicts", "/sync", "/packs", "/devices", "/reports", "/pairing"} {
		found := false
		for _, l := range links {
			found = found || l == want
		}
		if !found {
			t.Errorf("the admin's menu lacks %s (it has %v)", want, links)
		}
	}
	pages := append(links, "/directory?q=shelter")
	for _, p := range pages {
		var scroll, width int
		var h1 string
		err := chromedp.Run(ctx,
			chromedp.Navigate(f.ts.URL+p),
			chromedp.WaitVisible("main", chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
			chromedp.Evaluate(`document.documentElement.clientWidth`, &width),
			chromedp.Evaluate(`(document.querySelector('h1')||{textContent:''}).textContent`, &h1),
		)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if strings.TrimSpace(h1) == "" {
			t.Errorf("%s has no heading on a phone", p)
		}
		if scroll > width+1 {
			t.Errorf("%s is %d pixels wide on a %d-pixel phone screen: it scrolls sideways", p, scroll, width)
		}
	}
}
