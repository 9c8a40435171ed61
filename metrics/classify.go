package metrics

import (
	"regexp"
	"strings"
)

// Kinds of run errors, the values of dirsync_source_errors_total's kind label.
const (
	KindTimeout     = "timeout"
	KindUnreachable = "unreachable"
	KindAuth        = "auth"
	KindPartial     = "partial"
	KindOther       = "other"
)

// Kinds lists every kind, in the order Classify tries them.
var Kinds = []string{KindTimeout, KindUnreachable, KindAuth, KindPartial, KindOther}

// A run's errors reach the metrics as text: by then they have crossed the
// engine, the report and, for forwarded runs, the state backend's history, so
// the types are gone. The phrases are those of the connectors' own messages
// (connectors/ldap conn.go's hints, go-ldap's result names, connectors/entra
// errors.go, the net and context packages), lower-cased.
//
// The order matters: a dial that timed out is a timeout, not unreachable, and
// a bind that could not connect is unreachable, not an auth problem.
var kindPhrases = []struct {
	kind    string
	phrases []string
}{
	{KindTimeout, []string{"deadline exceeded", "timeout", "timed out", "time limit exceeded"}},
	{KindUnreachable, []string{"connection refused", "connection reset", "no route to host", "unreachable",
		"cannot be reached", "no such host", "broken pipe", "connection closed", "network error"}},
	{KindAuth, []string{"invalid credentials", "bind", "sign-in", "aadsts", "insufficient access",
		"unauthorized", "forbidden", "authentication"}},
	{KindPartial, []string{"partial read", "partial results", "size limit", "sizelimit", "admin limit exceeded", "truncated"}},
}

// eof matches io.EOF's text as a word ("EOF", "unexpected EOF"): a peer that
// hung up. Case matters, so a word merely holding the letters does not count.
var eof = regexp.MustCompile(`\bEOF\b`)

// httpAuth matches a refused HTTP request as Graph's errors say it ("answered
// 401", "answered 403"), not any 401 in a message (a record count, say).
var httpAuth = regexp.MustCompile(`(?i)\b(answered|status|status code)[ :=]*40[13]\b`)

// Classify sorts a run's error text into one of Kinds, so alerts can tell a
// source that is down from credentials that expired or a read that was cut
// short.
func Classify(msg string) string {
	lower := strings.ToLower(msg)
	for _, k := range kindPhrases {
		if k.kind == KindAuth && httpAuth.MatchString(msg) {
			return KindAuth
		}
		for _, p := range k.phrases {
			if strings.Contains(lower, p) {
				return k.kind
			}
		}
		if k.kind == KindUnreachable && eof.MatchString(msg) {
			return KindUnreachable
		}
	}
	return KindOther
}
