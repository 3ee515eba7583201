package fieldkit

import (
	"regexp"
	"strings"
	"testing"
)

func TestCommunities(t *testing.T) {
	cs := Communities()
	if len(cs) != 25 {
		t.Fatalf("got %d communities, want the 25 of Nunavut", len(cs))
	}
	regions := map[string]int{}
	names := map[string]bool{}
	for _, c := range cs {
		if names[c.Name] {
			t.Errorf("community %q listed twice", c.Name)
		}
		names[c.Name] = true
		regions[c.Region]++
		if c.Territory != "NU" {
			t.Errorf("%s: territory %q, want NU", c.Name, c.Territory)
		}
	}
	want := map[string]int{"Qikiqtaaluk": 13, "Kivalliq": 7, "Kitikmeot": 5}
	for r, n := range want {
		if regions[r] != n {
			t.Errorf("region %s has %d communities, want %d", r, regions[r], n)
		}
	}
	if len(regions) != len(want) {
		t.Errorf("regions = %v, want only %v", regions, want)
	}
	for _, n := range []string{"Iqaluit", "Pangnirtung", "Rankin Inlet", "Baker Lake", "Cambridge Bay", "Taloyoak"} {
		if !names[n] {
			t.Errorf("community %q missing", n)
		}
	}
}

func TestHotlines(t *testing.T) {
	want := map[string]string{
		"Canadian Human Trafficking Hotline": "1-833-900-1010",
		"Kamatsiaqtut Help Line":             "1-800-265-3333",
		"Hope for Wellness Help Line":        "1-855-242-3310",
		"Kids Help Phone":                    "1-800-668-6868",
		"9-8-8 Suicide Crisis Helpline":      "988",
	}
	phone := regexp.MustCompile(`^(1-8\d\d-\d{3}-\d{4}|988)$`)
	hs := Hotlines()
	if len(hs) != len(want) {
		t.Fatalf("got %d hotlines, want %d", len(hs), len(want))
	}
	for _, h := range hs {
		if want[h.Name] != h.Phone {
			t.Errorf("%s: phone %q, want %q", h.Name, h.Phone, want[h.Name])
		}
		if !phone.MatchString(h.Phone) {
			t.Errorf("%s: phone %q is not a toll-free or three-digit number", h.Name, h.Phone)
		}
		if h.Hours != "24/7" || h.Scope == "" || h.Notes == "" {
			t.Errorf("%s: hours %q, scope %q, notes %q", h.Name, h.Hours, h.Scope, h.Notes)
		}
	}
	if hs[1].Scope != "Nunavut and Nunavik" {
		t.Errorf("Kamatsiaqtut scope = %q", hs[1].Scope)
	}
}

func TestPublicDataIsCopied(t *testing.T) {
	cs := Communities()
	cs[0].Name = "changed"
	hs := Hotlines()
	hs[0].Phone = "changed"
	if Communities()[0].Name == "changed" || Hotlines()[0].Phone == "changed" {
		t.Error("a caller's change reached the embedded data")
	}
}

func TestParseCSVErrors(t *testing.T) {
	const ch = "community,region,territory\n"
	const hh = "name,phone,hours,scope,notes\n"
	tests := []struct {
		name     string
		hotlines bool
		in       string
		want     string // substring of the error; "" for success
	}{
		{"ok", false, ch + "Iqaluit,Qikiqtaaluk,NU\n", ""},
		{"byte order mark", false, "\uFEFF" + ch + "Iqaluit,Qikiqtaaluk,NU\n", ""},
		{"crlf", false, "community,region,territory\r\nIqaluit,Qikiqtaaluk,NU\r\n", ""},
		{"empty file", false, "", "file is empty"},
		{"header only", false, ch, "no rows"},
		{"renamed column", false, "community,area,territory\nIqaluit,Qikiqtaaluk,NU\n", "line 1: header is community,area,territory, want community,region,territory"},
		{"missing column", false, "community,region\nIqaluit,Qikiqtaaluk\n", "line 1: header is community,region"},
		{"reordered columns", true, "phone,name,hours,scope,notes\n988,X,24/7,Canada,\n", "line 1: header"},
		{"extra field", false, ch + "Iqaluit,Qikiqtaaluk,NU\nArviat,Kivalliq,NU,extra\n", "line 3"},
		{"empty region", false, ch + "Iqaluit,Qikiqtaaluk,NU\nArviat,,NU\n", "line 3: region is empty"},
		{"padded name", false, ch + " Iqaluit,Qikiqtaaluk,NU\n", "line 2: community \" Iqaluit\" has spaces"},
		{"bad territory", false, ch + "Iqaluit,Qikiqtaaluk,Nunavut\n", "line 2: territory"},
		{"duplicate", false, ch + "Iqaluit,Qikiqtaaluk,NU\nArviat,Kivalliq,NU\nIqaluit,Qikiqtaaluk,NU\n", "line 4: community \"Iqaluit\" is listed twice"},
		{"bare quote", false, ch + "Iqaluit,Qik\"iqtaaluk,NU\n", "line 2"},
		{"not utf-8", false, ch + "Iqaluit,Qikiqtaaluk\xff,NU\n", "line 2: region is not valid UTF-8"},
		{"hotline ok", true, hh + "Line,1-800-555-0100,24/7,Canada,\n", ""},
		{"quoted multiline notes", true, hh + "A,988,24/7,Canada,\"one\ntwo\"\nB,1-800-555-0100,24/7,Canada,x\n", ""},
		{"letters in phone", true, hh + "Line,1-800-HELP,24/7,Canada,\n", "line 2: phone \"1-800-HELP\""},
		{"phone after multiline", true, hh + "A,988,24/7,Canada,\"one\ntwo\"\nB,1--800,24/7,Canada,x\n", "line 4: phone"},
		{"empty hours", true, hh + "Line,988,,Canada,\n", "line 2: hours is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var file string
			if tt.hotlines {
				file = hotlinesFile
				_, err = parseHotlines(strings.NewReader(tt.in))
			} else {
				file = communitiesFile
				_, err = parseCommunities(strings.NewReader(tt.in))
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("no error, want one containing %q", tt.want)
			case !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), file):
				t.Fatalf("error %q, want it to start with %q and contain %q", err, file, tt.want)
			}
		})
	}
}

func TestValidPhone(t *testing.T) {
	good := []string{"988", "1-800-265-3333", "867-555-0142"}
	bad := []string{"", "-988", "988-", "1--800", "1 800 265 3333", "(867) 555-0142", "+1-800-265-3333"}
	for _, p := range good {
		if !validPhone(p) {
			t.Errorf("validPhone(%q) = false", p)
		}
	}
	for _, p := range bad {
		if validPhone(p) {
			t.Errorf("validPhone(%q) = true", p)
		}
	}
}
