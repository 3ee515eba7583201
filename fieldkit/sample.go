package fieldkit

import (
	"strings"
	"time"
)

// CanaryMarker is planted in every location field of sample and generated
// shelter records. It must never be found in plaintext anywhere the node
// writes: disk, logs, search index, exports, bundles or packs for anyone
// outside the shelter-locations audience.
const CanaryMarker = "CANARY-SEALED-LOCATION-7f3a"

// service is one fictional local service of the sample directory.
type service struct {
	kind           string
	nameEN, nameFR string
	nameIU         string // syllabics placeholder, marked "(sample)"
	community      string
	phone, hours   string
	languages      []string // not for shelters
	intake, notes  string   // notes not for shelters
	location       string   // shelters only: the text after CanaryMarker
}

// fictionalServices are the sample directory's local services. Every one is
// invented: the names say "(fictional)", the phones are in the 555-01xx
// range, and no location is a real place.
var fictionalServices = []service{
	{
		kind: KindHealth, community: "Pangnirtung",
		nameEN: "Example Health Centre (fictional)",
		nameFR: "Centre de santé d'exemple (fictif)",
		nameIU: "ᐋᓐᓂᐊᕐᕕᒃ (sample)",
		phone:  "867-555-0101", hours: "Mon–Fri 08:30–17:00; on-call nurse after hours",
		languages: []string{"en", "fr", "iu"},
		intake:    "Walk in or call the front desk. Ask for the community health representative; an interpreter is available on request.",
		notes:     "Fictional service for demos and tests.",
	},
	{
		kind: KindLegal, community: "Iqaluit",
		nameEN: "Sample Legal Clinic (fictional)",
		nameFR: "Clinique juridique d'exemple (fictive)",
		nameIU: "ᒪᓕᒐᓕᕆᕕᒃ (sample)",
		phone:  "867-555-0112", hours: "Tue and Thu 10:00–16:00",
		languages: []string{"en", "fr", "iu"},
		intake:    "Call to book a free consultation. Say only that you need a family-law appointment; the clinic calls back from a blocked number.",
		notes:     "Fictional. Family law, housing and protection orders. Consultations juridiques en français sur rendez-vous.",
	},
	{
		kind: KindTransport, community: "Rankin Inlet",
		nameEN: "Example Medical Travel Office (fictional)",
		nameFR: "Bureau des déplacements médicaux d'exemple (fictif)",
		phone:  "867-555-0123", hours: "Mon–Fri 09:00–16:30",
		languages: []string{"en", "fr"},
		intake:    "Bring the referral letter from the health centre. An escort must be approved before the flight is booked.",
		notes:     "Fictional. Books scheduled flights, boarding-home stays and escorts.",
	},
	{
		kind: KindFunds, community: "Cambridge Bay",
		nameEN: "Sample Emergency Funds Program (fictional)",
		nameFR: "Programme de fonds d'urgence d'exemple (fictif)",
		nameIU: "ᑮᓇᐅᔭᖅ ᐃᑲᔪᖅᑕᐅᓂᖅ (sample)",
		phone:  "867-555-0134", hours: "Mon–Fri 10:00–15:00",
		languages: []string{"en", "fr", "iu"},
		intake:    "An outreach worker applies on the person's behalf. Decisions within two working days; funds can cover food, fuel or a one-way flight.",
		notes:     "Fictional service for demos and tests.",
	},
	{
		kind: KindHealth, community: "Baker Lake",
		nameEN: "Example Wellness Centre (fictional)",
		nameFR: "Centre de mieux-être d'exemple (fictif)",
		nameIU: "ᐃᓄᐃᑦ ᐃᑲᔪᖅᑎᐅᑎᑦ (sample)",
		phone:  "867-555-0145", hours: "Daily 12:00–20:00",
		languages: []string{"en", "iu"},
		intake:    "Drop in. Counsellors and elders are there in the afternoon.",
		notes:     "Fictional. Land-based healing programs in summer.",
	},
	{
		kind: KindLegal, community: "Cambridge Bay",
		nameEN: "Sample Court Worker Office (fictional)",
		nameFR: "Bureau des intervenants judiciaires d'exemple (fictif)",
		phone:  "867-555-0156", hours: "Mon, Wed and Fri 09:00–12:00",
		languages: []string{"en", "fr"},
		intake:    "Court workers travel with the circuit court. Call ahead to meet before the court date.",
		notes:     "Fictional service for demos and tests.",
	},
	{
		kind: KindTransport, community: "Iqaluit",
		nameEN: "Example Safe Travel Desk (fictional)",
		nameFR: "Service de déplacement sécuritaire d'exemple (fictif)",
		nameIU: "ᐊᐅᓪᓚᕐᓂᖅ ᐃᑲᔪᖅᑎ (sample)",
		phone:  "867-555-0167", hours: "24/7 by phone",
		languages: []string{"en", "fr", "iu"},
		intake:    "For people who need to leave the community quickly. Call the intake line; staff arrange a seat on the next flight and someone to meet it.",
		notes:     "Fictional. Départs d'urgence; le personnel parle français.",
	},
	{
		kind: KindFunds, community: "Pangnirtung",
		nameEN: "Sample Food and Fuel Fund (fictional)",
		nameFR: "Fonds d'exemple pour la nourriture et le mazout (fictif)",
		phone:  "867-555-0178", hours: "Mon–Thu 13:00–16:00",
		languages: []string{"en", "iu"},
		intake:    "Apply in person at the hamlet office or through an outreach worker.",
		notes:     "Fictional. Vouchers for groceries and heating fuel.",
	},
	{
		kind: KindShelter, community: "Iqaluit",
		nameEN: "Example Women's Shelter (fictional)",
		nameFR: "Refuge pour femmes d'exemple (fictif)",
		nameIU: "ᐊᕐᓇᐃᑦ ᐊᖏᕐᕋᖓᑦ (sample)",
		phone:  "867-555-0189", hours: "24/7",
		intake:   "Call the intake line at any hour. Staff meet the person at a public place; the house is never given out by phone.",
		location: "fictional safe house, blue door near the fictional school",
	},
	{
		kind: KindShelter, community: "Pangnirtung",
		nameEN: "Sample Safe House (fictional)",
		nameFR: "Maison d'hébergement d'exemple (fictive)",
		phone:  "867-555-0190", hours: "24/7",
		intake:   "If you cannot call safely, ask the health centre to call intake for you.",
		location: "fictional safe house, green shed behind the fictional arena",
	},
	{
		kind: KindShelter, community: "Rankin Inlet",
		nameEN: "Example Family Safe House (fictional)",
		nameFR: "Maison sécuritaire pour familles d'exemple (fictive)",
		nameIU: "ᐃᓚᒌᑦ ᐊᖏᕐᕋᖓᑦ (sample)",
		phone:  "867-555-0191", hours: "24/7",
		intake:   "Families with children are welcome. Call intake; if you cannot talk, text the word SAFE.",
		location: "fictional safe house, third yellow house past the fictional water tank",
	},
	{
		kind: KindShelter, community: "Cambridge Bay",
		nameEN: "Sample Youth Shelter (fictional)",
		nameFR: "Refuge jeunesse d'exemple (fictif)",
		nameIU: "ᐃᓅᓱᒃᑐᑦ ᐊᖏᕐᕋᖓᑦ (sample)",
		phone:  "867-555-0192", hours: "Evenings 18:00–08:00",
		intake:   "For youth 16 to 24. Call, or ask a school counsellor to call intake.",
		location: "fictional youth shelter, red porch across from the fictional community hall",
	},
}

// hotlineLanguages guesses a public hotline's languages from its notes:
// English, French and Inuktitut when the notes say it is multilingual,
// otherwise English and French.
func hotlineLanguages(h Hotline) []string {
	if strings.Contains(strings.ToLower(h.Notes), "multilingual") {
		return []string{"en", "fr", "iu"}
	}
	return []string{"en", "fr"}
}

// SampleDirectory returns the sample service directory: every public
// hotline from the embedded CSV, then the fictional local services and
// shelters. Each call returns new records, the caller's to keep.
//
// A hotline record has name/en, kind, phone, hours, languages and notes as
// the CSV gives them. A shelter has public fields only (an alias in
// name/en, name/fr and name/iu, intake phone, community, hours and intake)
// plus a location that holds CanaryMarker.
func SampleDirectory() []Record {
	hs := loadHotlines()
	out := make([]Record, 0, len(hs)+len(fictionalServices))
	for _, h := range hs {
		f := map[string]any{
			FieldNameEN:    h.Name,
			FieldKind:      KindHotline,
			FieldPhone:     h.Phone,
			FieldHours:     h.Hours,
			FieldLanguages: hotlineLanguages(h),
		}
		if h.Notes != "" {
			f[FieldNotes] = h.Notes
		}
		out = append(out, Record{Collection: CollectionDirectory, Fields: f})
	}
	for _, s := range fictionalServices {
		out = append(out, s.record())
	}
	return out
}

func (s service) record() Record {
	f := map[string]any{
		FieldNameEN:    s.nameEN,
		FieldKind:      s.kind,
		FieldCommunity: s.community,
		FieldPhone:     s.phone,
		FieldHours:     s.hours,
		FieldIntake:    s.intake,
	}
	if s.nameFR != "" {
		f[FieldNameFR] = s.nameFR
	}
	if s.nameIU != "" {
		f[FieldNameIU] = s.nameIU
	}
	if s.kind == KindShelter {
		f[FieldLocation] = CanaryMarker + ": " + s.location
		return Record{Collection: CollectionDirectory, Fields: f}
	}
	c, ok := communityByName(s.community)
	if !ok {
		panic("bug: sample service in unknown community " + s.community)
	}
	f[FieldRegion] = c.Region
	f[FieldLanguages] = append([]string(nil), s.languages...)
	if s.notes != "" {
		f[FieldNotes] = s.notes
	}
	return Record{Collection: CollectionDirectory, Fields: f}
}

// sampleContacts are the sample outreach records, relative to a day.
var sampleContacts = []struct {
	daysAgo, followUpAfter int // followUpAfter 0: no follow-up
	community, contact     string
	referredTo, subject    string
	urgent                 bool
}{
	{1, 2, "Iqaluit", "in-person", "Example Women's Shelter (fictional)", "S-7K3Q", true},
	{3, 7, "Pangnirtung", "phone", "Example Health Centre (fictional)", "S-2MXD", false},
	{5, 3, "Rankin Inlet", "text", "Example Medical Travel Office (fictional)", "S-9TPA", false},
	{8, 1, "Cambridge Bay", "video", "Sample Emergency Funds Program (fictional)", "S-4HWN", true},
	{12, 0, "Iqaluit", "other", "Kamatsiaqtut Help Line", "S-K8R2", false},
	{20, 5, "Cambridge Bay", "in-person", "Sample Youth Shelter (fictional)", "S-X3VE", true},
}

// SampleOutreach returns sample outreach records dated in the days before
// now, in now's time zone. Subjects are pseudonymous codes and every
// referral names a service in SampleDirectory. Each call returns new
// records, the caller's to keep.
func SampleOutreach(now time.Time) []Record {
	out := make([]Record, 0, len(sampleContacts))
	for _, c := range sampleContacts {
		day := now.AddDate(0, 0, -c.daysAgo)
		f := map[string]any{
			FieldDate:       day.Format(time.DateOnly),
			FieldCommunity:  c.community,
			FieldContact:    c.contact,
			FieldReferredTo: c.referredTo,
			FieldSubject:    c.subject,
			FieldUrgent:     c.urgent,
		}
		if c.followUpAfter > 0 {
			f[FieldFollowUp] = day.AddDate(0, 0, c.followUpAfter).Format(time.DateOnly)
		}
		out = append(out, Record{Collection: CollectionOutreach, Fields: f})
	}
	return out
}
