package httpapi

import (
	"errors"
	"html/template"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
)

// errorText says what went wrong in the reader's language. The node's
// errors are English sentences; the kinds people meet on a page (a wrong
// passphrase, a reveal outside the audience, a field that breaks the
// rules) get a translated sentence, with the node's own words after it,
// smaller, for whoever helps them.
func errorText(lang string, err error) template.HTML {
	var key string
	var fe *node.FieldError
	switch {
	case errors.Is(err, store.ErrWrongPassphrase):
		key = "err.wrong_passphrase"
	case errors.Is(err, node.ErrNotAllowed), errors.Is(err, node.ErrRevoked):
		key = "err.not_allowed"
	case errors.Is(err, node.ErrNoAudienceKey):
		key = "err.no_key"
	case errors.Is(err, node.ErrDeleted):
		key = "err.deleted"
	case errors.As(err, &fe):
		return translate(lang, "err.bad_field") + " " + fieldLabel(lang, fe.Field) + detail(lang, fe.Msg)
	default:
		return template.HTML(template.HTMLEscapeString(err.Error()))
	}
	return translate(lang, key) + detail(lang, err.Error())
}

// detail is the node's English words, small, marked as English.
func detail(lang, s string) template.HTML {
	if lang == "en" {
		return template.HTML(` <small class="detail">(` + template.HTMLEscapeString(s) + `)</small>`)
	}
	return template.HTML(` <small class="detail" lang="en">(` + template.HTMLEscapeString(s) + `)</small>`)
}
