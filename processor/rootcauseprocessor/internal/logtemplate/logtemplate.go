// Package logtemplate mines templates from log messages, after Drain (He et
// al., ICWS 2017): messages with the same number of tokens and the same first
// token are compared token by token; when at least half of the tokens are the
// same words (a variable matches nothing, as in drain3: a shared preamble of
// IDs must not make two different lines one), they share a template whose
// differing tokens become "<*>". Tokens that hold a digit (numbers, IDs,
// dates, durations) are variables before any comparison. The miner is
// bounded and safe for concurrent use.
//
// No maintained Go implementation of Drain exists among the libraries this
// project can use; this is the small part of it the processor needs: the
// template of an error message, to tell a new or surging error from the
// chronic ones a service always logs.
package logtemplate // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

const (
	// Wildcard replaces a variable token.
	Wildcard = "<*>"
	// similarity is Drain's threshold: the share of equal tokens from which
	// two messages are the same template.
	similarity = 0.5
	// maxTokens bounds the tokens of a message that are compared; longer
	// messages are cut (stack traces, dumps).
	maxTokens = 64
)

// Miner groups messages into templates.
type Miner struct {
	mu     sync.Mutex
	max    int
	groups map[groupKey][]*template
	// statements are the templates of records that name the code that
	// wrote them, by its location.
	statements map[string]*template
	byID       []*template // by ID - 1
	n          int
	// rejected counts the messages of new templates refused because the
	// bound was reached; they get their masked text as template.
	rejected bounded.Tally
}

type groupKey struct {
	tokens int
	first  string
}

type template struct {
	id     ID
	tokens []string
	text   string
}

// ID identifies a template for as long as the miner lives, while its text
// generalizes: counting a template's occurrences by its text would start a
// new count each time Drain replaces one of its tokens by a wildcard. The
// zero ID is no template: an empty message, or a new one beyond the bound.
type ID uint32

// New returns a miner that keeps at most maxTemplates templates (zero: no bound).
func New(maxTemplates int) *Miner {
	return &Miner{max: maxTemplates, groups: map[groupKey][]*template{}, statements: map[string]*template{}}
}

// Statement returns the template of msg written by the log statement at
// location (its code's file or function and line, as a record's code.*
// attributes name it), learning it. The statement is the template, whatever
// its words: a message that lists a variable number of items, or names a
// station or a user, is one template, where mining makes one for each
// length and cannot tell a name from a word. Its text generalizes as
// Drain's does, over the messages of the same length.
func (m *Miner) Statement(location, msg string) (ID, string) {
	var buf [maxTokens]string
	tokens := tokenize(msg, buf[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.statements[location]; t != nil {
		if len(tokens) == len(t.tokens) {
			generalize(t, tokens)
		}
		return t.id, t.text
	}
	t, text := m.add(tokens)
	if t == nil {
		return 0, text
	}
	m.statements[location] = t
	return t.id, t.text
}

// add learns a new template of tokens; beyond the bound it learns none and
// returns nil, with the tokens' text.
func (m *Miner) add(tokens []string) (*template, string) {
	text := strings.Join(tokens, " ")
	if m.max > 0 && m.n >= m.max {
		m.rejected.Add(1)
		return nil, text
	}
	m.n++
	t := &template{id: ID(m.n), tokens: slices.Clone(tokens), text: text}
	m.byID = append(m.byID, t)
	return t, text
}

// generalize makes the tokens of t that differ from tokens variables, its
// text with them.
func generalize(t *template, tokens []string) {
	changed := false
	for i, tok := range tokens {
		if t.tokens[i] != tok && t.tokens[i] != Wildcard {
			t.tokens[i] = Wildcard
			changed = true
		}
	}
	if changed {
		t.text = strings.Join(t.tokens, " ")
	}
}

// Template returns the template of msg, learning it: its ID and its text.
func (m *Miner) Template(msg string) (ID, string) {
	var buf [maxTokens]string
	tokens := tokenize(msg, buf[:])
	if len(tokens) == 0 {
		return 0, ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := groupKey{tokens: len(tokens), first: tokens[0]}
	var best *template
	bestSim := 0.0
	for _, t := range m.groups[key] {
		if s := sim(t.tokens, tokens); s > bestSim {
			best, bestSim = t, s
		}
	}
	if best != nil && bestSim >= similarity {
		generalize(best, tokens)
		return best.id, best.text
	}
	t, text := m.add(tokens)
	if t == nil {
		return 0, text
	}
	m.groups[key] = append(m.groups[key], t)
	return t.id, t.text
}

// Text is the current text of template id, "" when unknown.
func (m *Miner) Text(id ID) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || int(id) > len(m.byID) {
		return ""
	}
	return m.byID[id-1].text
}

// Len is the number of templates learned.
func (m *Miner) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// TakeRejected returns, and resets, the messages of new templates refused
// because the bound was reached.
func (m *Miner) TakeRejected() int64 { return m.rejected.Take() }

// sim is the share of the tokens that are the same word in the template and
// the message.
func sim(template, tokens []string) float64 {
	same := 0
	for i, t := range template {
		if t == tokens[i] && t != Wildcard {
			same++
		}
	}
	return float64(same) / float64(len(tokens))
}

// tokenize splits msg on white space into buf and masks the tokens holding a
// digit; the tokens are substrings of msg, so nothing is allocated while buf
// has room (a template keeps a copy).
func tokenize(msg string, buf []string) []string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // the first line; a stack trace follows
	}
	fields := buf[:0]
	start, digit := -1, false
	for i := 0; i <= len(msg) && len(fields) < maxTokens; i++ {
		if i == len(msg) || isSpace(msg[i]) {
			if start >= 0 {
				tok := msg[start:i]
				if digit {
					tok = Wildcard
				}
				fields = append(fields, tok)
				start, digit = -1, false
			}
			continue
		}
		if start < 0 {
			start = i
		}
		if c := msg[i]; c >= '0' && c <= '9' {
			digit = true
		} else if c >= utf8.RuneSelf && !digit {
			r, _ := utf8.DecodeRuneInString(msg[i:])
			digit = unicode.IsDigit(r)
		}
	}
	return fields
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
