package logtemplate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// text returns the template's text only.
func text(_ ID, s string) string { return s }

func TestTemplates(t *testing.T) {
	m := New(0)
	a := text(m.Template("f.s.FoodServiceImpl#302 TraceID: 09158d1f8f3e SpanID: 2244784164b7 [getAllFood][Get the Get Food Request Failed!][foodStoresListResult is null][date: 2021-07-14, tripId: D1345]"))
	b := text(m.Template("f.s.FoodServiceImpl#302 TraceID: 76e1900e499a SpanID: 52b42f0857749601 [getAllFood][Get the Get Food Request Failed!][foodStoresListResult is null][date: 2021-07-15, tripId: G1237]"))
	assert.Equal(t, a, b, "IDs, dates and numbers are variables")
	assert.Contains(t, a, "Request Failed!")

	c := text(m.Template("e.s.ExecuteServiceImpl#51 TraceID: 3fd3c030ff33 SpanID: fd823d704c05 [ticketExecute][getOrderByIdFromOrderOther][ticket execute error: Order Status Wrong][orderId: 1f4b2590]"))
	assert.NotEqual(t, a, c, "another message, another template")

	// Drain's merge: one token differs out of eight.
	dID, d := m.Template("Connection refused by payment gateway while authorizing card")
	eID, e := m.Template("Connection refused by fraud gateway while authorizing card")
	assert.Equal(t, "Connection refused by <*> gateway while authorizing card", e)
	assert.NotEqual(t, d, e, "the first message's template was the message itself")
	assert.Equal(t, dID, eID, "the template keeps its ID while its text generalizes")
	assert.Equal(t, e, text(m.Template("Connection refused by payment gateway while authorizing card")), "and is now the merged one")

	// Same length and first word, mostly different: two templates.
	fID, f := m.Template("Connection pool exhausted after waiting too long here")
	assert.NotEqual(t, e, f)
	assert.NotEqual(t, eID, fID)
	assert.Equal(t, 4, m.Len())
	id, empty := m.Template("   ")
	assert.Empty(t, empty)
	assert.Zero(t, id)
	assert.Equal(t, "panic: <*>", text(m.Template("panic: 42\n\tat main.go:12\n\tat ...")), "the first line only")
}

func TestBound(t *testing.T) {
	m := New(2)
	m.Template("one message")
	m.Template("another different text here")
	id, txt := m.Template("a third kind of thing")
	assert.Equal(t, "a third kind of thing", txt, "beyond the bound: the masked text")
	assert.Zero(t, id, "and no template")
	assert.Equal(t, int64(1), m.TakeRejected())
	assert.Equal(t, 2, m.Len())
}

// Lines that share only a preamble of IDs are different lines: a variable
// matches nothing, or every Java log line with a trace ID would be one.
func TestSharedVariablesDoNotMakeOneTemplate(t *testing.T) {
	m := New(0)
	a, _ := m.Template("c.s.ContactsServiceImpl#31 TraceID: 5d0bbaa5 SpanID: 235ae8f8 [findContactsById][Find contacts by id]")
	b, _ := m.Template("c.s.ContactsServiceImpl#34 TraceID: 5d0bbaa5 SpanID: 235ae8f8 [findContactsById][contactsRepository.findById] found one entry")
	assert.NotEqual(t, a, b)
}

func TestTokenize(t *testing.T) {
	var buf [maxTokens]string
	assert.Equal(t, []string{"<*>", "b", "c", "dé", "<*>", "<*>"}, tokenize("a1 b  c\tdé 4 x٣\nstack trace 9", buf[:]))
	assert.Empty(t, tokenize(" \t ", buf[:]))
	long := strings.Repeat("w ", 2*maxTokens)
	assert.Len(t, tokenize(long, buf[:]), maxTokens)
}

// A record that names the statement that wrote it has that statement as its
// template: lists of any length, names a miner takes for words, are one;
// two statements are two templates even when their words are the same.
func TestAStatementIsItsTemplate(t *testing.T) {
	m := New(0)
	aID, _ := m.Statement("TravelServiceImpl.java:372", "[queryInfo][Trips of shanghai suzhou][count: 2]")
	bID, b := m.Statement("TravelServiceImpl.java:372", "[queryInfo][Trips of nanjing shanghai hongqiao][count: 3]")
	cID, c := m.Statement("TravelServiceImpl.java:372", "[queryInfo][Trips of beijing shanghai][count: 1]")
	assert.Equal(t, aID, bID, "another length, the same statement")
	assert.Equal(t, bID, cID)
	assert.Equal(t, "[queryInfo][Trips of shanghai suzhou][count: <*>", b, "the text is the first message's")
	assert.Equal(t, "[queryInfo][Trips of <*> <*> <*>", c, "generalized by those of its length")
	dID, _ := m.Statement("TravelServiceImpl.java:380", "[queryInfo][Trips of shanghai suzhou][count: 2]")
	assert.NotEqual(t, aID, dID, "another statement")
	minedID, _ := m.Template("[queryInfo][Trips of shanghai suzhou][count: 2]")
	assert.NotEqual(t, aID, minedID, "a statement's template is not a mined one")
	assert.Equal(t, 3, m.Len())
}
