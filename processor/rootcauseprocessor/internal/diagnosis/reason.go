package diagnosis // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
)

const maxEvidence = 5

// saturationHints mark log messages that explain a failure by an exhausted
// resource; they are appended to the reason because they name the cause
// behind the symptom ("timeout" because "pool reached max connections").
var saturationHints = []string{"pool", "max connections", "exhausted", "saturat", "queue full", "too many", "out of memory", "rate limit"}

var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "with": true, "from": true, "while": true,
	"during": true, "due": true, "because": true, "was": true, "has": true, "not": true,
}

// Sentence trims a log message to a clause usable as an incident's reason.
func Sentence(m string) string { return sentence(m) }

// reason builds a short readable explanation for the culprit span c: the
// culprit service's log message that best matches the span's own error text,
// else a sentence built from the span's status, exception and db/http
// attributes. fromLogs tells which.
func reason(spans []Span, c int, kind Kind, logs []Log) (text string, evidence []string, fromLogs bool) {
	s := &spans[c]
	words := map[string]bool{}
	addWords(words, s.StatusMessage)
	addWords(words, s.ErrorType)
	for _, e := range s.Exceptions {
		addWords(words, e)
	}
	addWords(words, s.Name)
	addWords(words, s.dependency())
	if s.DBSystem != "" {
		words["database"], words["query"] = true, true
	}
	if kind == KindLatency {
		for w := range latencyWords {
			words[w] = true
		}
	}

	primary, bestScore := -1, 0
	hint, own := -1, -1
	for i := range logs {
		l := &logs[i]
		if l.Service != s.Service {
			continue
		}
		if l.Severity >= plog.SeverityNumberWarn && explains(kind, l) {
			if sc := overlap(words, l.Body); sc > bestScore {
				primary, bestScore = i, sc
			}
		}
		// The span's own error, the first and most severe (the logs come
		// most severe first): the reason when no message shares its words.
		if own < 0 && l.SpanID == s.ID && l.Severity >= plog.SeverityNumberError {
			own = i
		}
		if hint < 0 && hasHint(l.Body) {
			hint = i
		}
	}
	if primary < 0 {
		primary = own
	}
	fromLogs = primary >= 0
	if fromLogs {
		text = sentence(logs[primary].Body)
	} else {
		text = spanReason(s, kind)
	}
	if hint >= 0 && hint != primary {
		text += " (" + sentence(logs[hint].Body) + ")"
	}

	add := func(l *Log) {
		if len(evidence) < maxEvidence {
			evidence = append(evidence, l.Service+": "+l.Body)
		}
	}
	if primary >= 0 {
		add(&logs[primary])
	}
	if hint >= 0 && hint != primary {
		add(&logs[hint])
	}
	for i := range logs {
		if i != primary && i != hint && logs[i].Severity >= plog.SeverityNumberWarn {
			add(&logs[i])
		}
	}
	return text, evidence, fromLogs
}

// spanReason describes the culprit from its attributes alone.
func spanReason(s *Span, kind Kind) string {
	subject := s.Name
	switch {
	case s.DBSystem != "":
		subject = join(s.DBSystem, s.DBOperation, s.DBCollection)
		if subject == s.DBSystem && s.Name != "" {
			subject = join(s.DBSystem, s.Name)
		}
		subject += " query"
	case s.PeerService != "" || s.ServerAddress != "":
		subject = "call to " + s.dependency()
	}
	if kind == KindLatency {
		return "slow " + subject
	}
	detail := ""
	for _, e := range s.Exceptions {
		if e != "" {
			detail = e
			break
		}
	}
	if detail == "" {
		detail = s.StatusMessage
	}
	if detail == "" {
		detail = s.ErrorType
	}
	if detail == "" {
		detail = s.statusText()
	}
	if detail == "" {
		detail = "error"
	}
	return subject + " failed: " + sentence(detail)
}

func join(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

func itoa(v int64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}

// sentence trims a message to a clause: no trailing period, first letter
// lowercased unless the first word is an acronym.
func sentence(m string) string {
	m = strings.TrimSpace(m)
	if i := strings.IndexByte(m, '\n'); i >= 0 {
		m = strings.TrimSpace(m[:i])
	}
	m = strings.TrimRight(m, ".!")
	r, size := utf8.DecodeRuneInString(m)
	if size == 0 || !unicode.IsUpper(r) {
		return m
	}
	if next, _ := utf8.DecodeRuneInString(m[size:]); unicode.IsUpper(next) {
		return m
	}
	return string(unicode.ToLower(r)) + m[size:]
}

// latencyWords mark a log message that speaks of slowness.
var latencyWords = map[string]bool{"slow": true, "latency": true, "delay": true, "delayed": true, "timeout": true, "timed": true, "took": true, "elapsed": true}

// explains reports whether a warning or error log record can be the reason
// of a verdict of that kind. Any of them can explain a failure; a slow
// request is explained by its measured slowdown unless the record fails or
// speaks of slowness: services log warnings on every request ("verify code
// start"), and quoting one would hide how much slower the request was.
func explains(kind Kind, l *Log) bool {
	if kind != KindLatency || l.Severity >= plog.SeverityNumberError {
		return true
	}
	return overlap(latencyWords, l.Body) > 0
}

func hasHint(m string) bool {
	m = strings.ToLower(m)
	for _, h := range saturationHints {
		if strings.Contains(m, h) {
			return true
		}
	}
	return false
}

func addWords(set map[string]bool, text string) {
	forWords(text, func(w string) { set[w] = true })
}

func overlap(set map[string]bool, text string) int {
	n := 0
	forWords(text, func(w string) {
		if set[w] {
			n++
		}
	})
	return n
}

func forWords(text string, f func(string)) {
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) >= 3 && !stopWords[w] {
			f(w)
		}
	}
}
