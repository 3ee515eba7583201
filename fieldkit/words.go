package fieldkit

// Small word lists for the generators. The text they make reads like
// directory text (mixed English, French with accents, and syllabics) but
// means nothing.

var wordsEN = []string{
	"community", "family", "youth", "elders", "wellness", "support", "health",
	"outreach", "safety", "healing", "land", "care", "northern", "arctic",
	"program", "worker", "call", "visit", "office", "appointment", "referral",
	"children", "women", "men", "counselling", "interpreter", "weekly",
	"monthly", "evening", "morning", "winter", "summer", "flight", "escort",
	"food", "fuel", "housing", "court", "circuit", "nurse", "clinic", "form",
	"letter", "phone", "text", "message", "private", "confidential", "free",
	"bring", "ask", "book", "wait", "return", "open", "closed", "holiday",
	"meeting", "group", "circle", "sewing", "hunting", "country", "traditional",
	"the", "a", "for", "with", "and", "or", "after", "before", "at", "to", "on",
}

var wordsFR = []string{
	"communauté", "famille", "jeunesse", "aînés", "mieux-être", "soutien",
	"santé", "sécurité", "guérison", "territoire", "soins", "nordique",
	"arctique", "programme", "intervenant", "intervenante", "appel", "visite",
	"bureau", "rendez-vous", "référence", "enfants", "femmes", "écoute",
	"interprète", "hebdomadaire", "soirée", "matinée", "hiver", "été", "vol",
	"accompagnateur", "nourriture", "mazout", "logement", "tribunal", "itinérant",
	"infirmière", "clinique", "formulaire", "lettre", "téléphone", "texto",
	"privé", "confidentiel", "gratuit", "apportez", "demandez", "réservez",
	"fermé", "férié", "réunion", "cercle", "couture", "chasse", "traditionnel",
	"le", "la", "les", "pour", "avec", "et", "ou", "après", "avant", "à", "de",
}

// wordsIU are syllabics placeholders (see the package doc).
var wordsIU = []string{
	"ᐃᓄᐃᑦ", "ᐃᓄᒃ", "ᐃᓄᒃᑎᑐᑦ", "ᓄᓇᕗᑦ", "ᓄᓇ", "ᐊᖏᕐᕋ", "ᐃᒡᓗ", "ᐋᓐᓂᐊᕐᕕᒃ",
	"ᐃᓕᓐᓂᐊᕐᕕᒃ", "ᐊᕐᓇᐃᑦ", "ᐃᓚᒌᑦ", "ᐃᓅᓱᒃᑐᑦ", "ᐃᓅᓯᖅ", "ᐅᓪᓗᖅ", "ᐅᓐᓄᒃ",
	"ᓯᕿᓂᖅ", "ᓇᓄᖅ", "ᑐᒃᑐ", "ᑕᕆᐅᖅ", "ᓯᑯ", "ᑮᓇᐅᔭᖅ", "ᖃᖓᑕᓲᒃ", "ᐃᑲᔪᖅᑎ",
	"ᐃᑲᔪᖅᑕᐅᓂᖅ", "ᐅᖃᐅᓯᖅ", "ᒪᓕᒐᐃᑦ", "ᑲᒪᔨ", "ᐊᐅᓪᓚᕐᓂᖅ",
}

// serviceWords are the parts of generated service names, by kind: an
// English type, a French type, and whether the French type is feminine.
var serviceWords = map[string][]struct {
	en, fr string
	fem    bool
}{
	KindHotline: {
		{"Help Line", "Ligne d'écoute", true},
		{"Support Line", "Ligne de soutien", true},
		{"Crisis Line", "Ligne de crise", true},
	},
	KindHealth: {
		{"Health Centre", "Centre de santé", false},
		{"Wellness Centre", "Centre de mieux-être", false},
		{"Community Clinic", "Clinique communautaire", true},
	},
	KindLegal: {
		{"Legal Clinic", "Clinique juridique", true},
		{"Court Worker Office", "Bureau des intervenants judiciaires", false},
		{"Legal Aid Office", "Bureau d'aide juridique", false},
	},
	KindTransport: {
		{"Medical Travel Office", "Bureau des déplacements médicaux", false},
		{"Travel Desk", "Service des déplacements", false},
		{"Escort Program", "Programme d'accompagnement", false},
	},
	KindFunds: {
		{"Emergency Fund", "Fonds d'urgence", false},
		{"Relief Program", "Programme d'aide", false},
		{"Assistance Fund", "Fonds d'assistance", false},
	},
	KindShelter: {
		{"Safe House", "Maison d'hébergement", true},
		{"Women's Shelter", "Refuge pour femmes", false},
		{"Family Shelter", "Refuge pour familles", false},
		{"Youth Shelter", "Refuge jeunesse", false},
	},
}

// nameWordsEN and nameWordsFR give generated services a distinguishing word.
var (
	nameWordsEN = []string{
		"Aurora", "North Star", "Tundra", "Inlet", "Sea Ice", "Midnight Sun",
		"Raven", "Caribou", "Snow Bunting", "Lamplight", "Floe Edge", "Spring Camp",
	}
	nameWordsFR = []string{
		"Aurore boréale", "Étoile du Nord", "Toundra", "Banquise", "Soleil de minuit",
		"Corbeau", "Caribou", "Bruant des neiges", "Lisière", "Grève", "Été arctique",
	}
)

var hoursChoices = []string{
	"24/7", "24/7 by phone", "Mon–Fri 09:00–17:00", "Mon–Fri 08:30–16:30",
	"Tue and Thu 10:00–16:00", "Daily 12:00–20:00", "Evenings 18:00–08:00",
	"Mon, Wed and Fri 09:00–12:00", "Lun–ven 9 h à 17 h", "When the circuit court sits",
}

// Location vocabulary, kept apart from every other list so that a location
// description cannot turn up in another field by chance.
var (
	locPlaces    = []string{"safe house", "youth shelter", "family shelter", "women's shelter"}
	locColours   = []string{"blue", "green", "yellow", "red", "white", "grey", "orange", "brown"}
	locThings    = []string{"door", "porch", "shed", "siding", "skidoo trailer", "fence", "qamutik"}
	locRelations = []string{"near", "behind", "across from", "two houses past", "up the hill from", "beside"}
	locLandmarks = []string{
		"school", "arena", "water tank", "boat launch", "community hall",
		"fuel depot", "airstrip", "co-op store", "church", "power plant",
	}
)
