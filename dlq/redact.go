package dlq

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redacted replaces every secret Redact finds.
const Redacted = "[REDACTED]"

// TruncatedMarker ends an error text that CapError shortened.
const TruncatedMarker = "…(truncated)"

// secretKeys are the names whose values Redact hides. They match anywhere
// in a longer name (db_password, X-Api-Key, aws_secret_access_key,
// accessToken) as long as the separator follows the name or a
// [_.-]-joined suffix (password_hash=), so tokenizer: or secretary: do
// not match.
const secretKeys = `password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|authorization`

// secretValue is a value after a secret key, in the forms error texts carry
// it. Alternatives are tried in order (RE2 alternation is leftmost-first):
// an already redacted value (so Redact is idempotent), an auth scheme and
// its credentials, an escaped-quoted string (JSON inside a %q), a double-
// or single-quoted string, an unterminated quote up to white space, and a
// bare value up to white space, a quote, & or ;. A backslash escapes any
// byte inside quotes, a newline too: were "\<newline>" not an escape, the
// first pass would hide only up to the newline and a second pass would
// find the rest a quoted string (Redact would not be idempotent).
const secretValue = `\[REDACTED\]` +
	`|(?:bearer|basic|digest|negotiate)[ \t]+(?:\[REDACTED\]|[^\s"'&;]+)` +
	`|\\".*?\\"` +
	`|"(?:[^"\\]|\\[\s\S])*"` +
	`|'(?:[^'\\]|\\[\s\S])*'` +
	`|["'][^\s&;]*` +
	`|[^\s"'&;]+`

var (
	// keyValueRE: a secret key, an optional closing (escaped) quote, = or :
	// and the value (group 2).
	keyValueRE = regexp.MustCompile(`(?i)((?:` + secretKeys + `)(?:[_.-][\w.-]*)?\\?["']?[ \t]*[=:][ \t]*)(` + secretValue + `)`)
	// bearerRE: a bearer token anywhere, as in a logged header.
	bearerRE = regexp.MustCompile(`(?i)\b(bearer[ \t]+)[A-Za-z0-9._~+/=-]+`)
	// userinfoRE: the password of a URL's userinfo, up to the last @
	// before the path.
	userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*:)[^\s/]*@`)
	// onexbusTokenRE: an onexbusd bearer token (oxb_<id>_<secret>) on its
	// own, as a handler may quote it without a key or a scheme.
	onexbusTokenRE = regexp.MustCompile(`\boxb_[0-9A-Za-z-]{1,64}_[A-Za-z0-9_-]+`)
	// schemeRE splits an auth scheme from its credentials.
	schemeRE = regexp.MustCompile(`(?i)^(bearer|basic|digest|negotiate)[ \t]+`)
)

// Redact returns s with the values of secrets replaced by Redacted:
//   - key=value and key: value for keys naming a password, passwd, pwd,
//     passphrase, secret, token, API key, access key, private key,
//     credentials or authorization, also inside longer names
//     (db_password=, X-Api-Key:) and with quoted keys or values, as in
//     JSON ("password":"x") and in JSON quoted again by %q;
//   - the credentials after an auth scheme (Authorization: Bearer x keeps
//     "Bearer" and hides x), and any "Bearer x";
//   - the password in a URL's userinfo (scheme://user:pass@host);
//   - an onexbusd bearer token (oxb_<id>_<secret>) anywhere.
//
// It errs on the side of hiding: "invalid token: expired" becomes
// "invalid token: [REDACTED]". Redact(Redact(s)) == Redact(s).
func Redact(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	s = replaceGroup(keyValueRE, s, 2, redactValue)
	s = bearerRE.ReplaceAllString(s, "${1}"+Redacted)
	s = userinfoRE.ReplaceAllString(s, "${1}"+Redacted+"@")
	s = onexbusTokenRE.ReplaceAllString(s, Redacted)
	return s
}

// mayHoldSecret is a cheap test that lets most error texts skip the
// regular expressions: every pattern needs one of these characters.
func mayHoldSecret(s string) bool {
	return strings.ContainsAny(s, "=:") || strings.Contains(strings.ToLower(s), "bearer") || strings.Contains(s, "oxb_")
}

// redactValue returns the replacement of one secret value, keeping its
// quotes and auth scheme so the text stays readable.
func redactValue(v string) string {
	switch {
	case v == Redacted:
		return v
	case schemeRE.MatchString(v):
		return schemeRE.FindString(v) + Redacted
	case len(v) >= 4 && strings.HasPrefix(v, `\"`) && strings.HasSuffix(v, `\"`):
		return `\"` + Redacted + `\"`
	case len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]:
		return v[:1] + Redacted + v[:1]
	case v[0] == '"' || v[0] == '\'':
		return v[:1] + Redacted
	}
	return Redacted
}

// replaceGroup replaces submatch group g of every match of re in s with
// fn(group).
func replaceGroup(re *regexp.Regexp, s string, g int, fn func(string) string) string {
	idx := re.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range idx {
		lo, hi := m[2*g], m[2*g+1]
		if lo < 0 {
			continue
		}
		b.WriteString(s[last:lo])
		b.WriteString(fn(s[lo:hi]))
		last = hi
	}
	b.WriteString(s[last:])
	return b.String()
}

// CapError returns s cut to at most n bytes. A cut s ends with
// TruncatedMarker, within the n bytes; when n is shorter than the marker,
// the cut has no marker; n <= 0 gives "". The cut never splits a UTF-8
// sequence of s. Add redacts before it caps, so that a cut cannot leave
// part of a secret its pattern no longer recognises (a URL cut before
// its '@').
func CapError(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	if n < len(TruncatedMarker) {
		return s[:runeCut(s, n)]
	}
	return s[:runeCut(s, n-len(TruncatedMarker))] + TruncatedMarker
}

// runeCut moves the cut i (< len(s)) back to the start of the UTF-8
// sequence it falls in, so s[:result] ends on a rune boundary. In invalid
// UTF-8 it moves back at most utf8.UTFMax-1 bytes.
func runeCut(s string, i int) int {
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); j++ {
		i--
	}
	return i
}
