package diagnosis // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
)

// A wrong answer fails its caller, not itself: a service that returns a
// wrong value succeeds, and its own telemetry is as usual, while the caller
// that acts on the value warns, fails or passes bad data on. The failure
// starts in the callee when the caller says so: a warning or error it wrote
// while serving the failed request names a service it called there, and
// that call succeeded. A service that names a service it never reached in
// the request ("No instances available for X") or that failed (its own
// failure is the origin) is not a wrong answer.

// wrongAnswer returns the server span of the callee whose answer the failure
// at span c followed, -1 when c's service blames none: one of its WARN+ log
// records on c or on a span of its own below c names the service of a call
// made below c that succeeded. It also returns the caller's record.
func (d *Diagnoser) wrongAnswer(spans []Span, c int, logs []Log) (int32, *Log) {
	svc := spans[c].Service
	if svc == "" || len(logs) == 0 {
		return -1, nil
	}
	// The caller's own spans of this request (c and its spans below it in
	// the same service), and the calls they made to other services.
	d.tmp = d.tmp[:0]
	var callees []int32
	var walk func(i int32)
	walk = func(i int32) {
		d.tmp = append(d.tmp, i)
		for _, k := range d.children(i) {
			switch {
			case d.ignored[k]:
			case spans[k].Service == svc:
				walk(k)
			case !d.failed[k] && spans[k].Service != "":
				callees = append(callees, k)
			}
		}
	}
	walk(int32(c))
	if len(callees) == 0 {
		return -1, nil
	}
	for li := range logs {
		l := &logs[li]
		if l.Service != svc || l.Severity < plog.SeverityNumberWarn || !d.ownSpan(spans, l) {
			continue
		}
		for _, k := range callees {
			if namesService(l.Body, spans[k].Service) {
				return k, l
			}
		}
	}
	return -1, nil
}

// ownSpan tells whether l names one of the spans wrongAnswer collected.
func (d *Diagnoser) ownSpan(spans []Span, l *Log) bool {
	for _, i := range d.tmp {
		if spans[i].ID == l.SpanID {
			return true
		}
	}
	return false
}

// namesService tells whether message names service as a word of its own,
// in any case: "Invalid response from pricing: ..." names pricing, a
// message about "pricingRules" does not.
func namesService(message, service string) bool {
	if len(service) < 3 { // a name that short is a word of every message
		return false
	}
	m, s := strings.ToLower(message), strings.ToLower(service)
	for from := 0; ; {
		i := strings.Index(m[from:], s)
		if i < 0 {
			return false
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(m[:i])
		after, _ := utf8.DecodeRuneInString(m[i+len(s):])
		if !isWordRune(before) && !isWordRune(after) {
			return true
		}
		from = i + 1
	}
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
}
