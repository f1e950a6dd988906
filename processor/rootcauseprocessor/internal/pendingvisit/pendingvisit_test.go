package pendingvisit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func visit(sec int) Visit {
	return Visit{Operation: "GET /", At: t0.Add(time.Duration(sec) * time.Second)}
}

// Visits wait until the evidence about their time comes; those it explains
// are returned once, those it does not are forgotten, the rest wait on.
func TestSettleReturnsTheBlamedOnceAndKeepsTheWaiting(t *testing.T) {
	l := New(10, 4)
	l.Add("food", visit(1))
	l.Add("food", visit(2))
	l.Add("food", visit(3))
	l.Add("seat", visit(1))
	judge := func(service string, v *Visit) Judgment {
		switch {
		case service == "seat":
			return Forget
		case v.At.Before(t0.Add(3 * time.Second)):
			return Blame
		}
		return Wait
	}
	blamed := l.Settle(judge)
	require.Len(t, blamed, 1)
	assert.Equal(t, []Visit{visit(1), visit(2)}, blamed["food"])
	again := l.Settle(func(string, *Visit) Judgment { return Blame })
	assert.Equal(t, map[string][]Visit{"food": {visit(3)}}, again, "only the waiting visit is left")
	assert.Empty(t, l.Settle(func(string, *Visit) Judgment { return Blame }))
	assert.Zero(t, l.TakeForgotten(), "judged visits are no drops")
}

// A service with more visits waiting than it keeps forgets its oldest, and
// a service beyond the bound all of its visits; both are counted.
func TestTheBoundsForgetTheOldestAndCount(t *testing.T) {
	l := New(2, 2)
	for s := range 3 {
		l.Add("food", visit(s))
	}
	assert.EqualValues(t, 1, l.TakeForgotten())
	l.Add("seat", visit(0))
	l.Add("route", visit(0)) // food was tracked first: forgotten with its 2
	assert.EqualValues(t, 2, l.TakeForgotten())
	blamed := l.Settle(func(string, *Visit) Judgment { return Blame })
	assert.Len(t, blamed, 2)
	assert.NotContains(t, blamed, "food")
}

// A service whose visits were all judged stays tracked: its next visits do
// not evict another service's.
func TestASettledServiceKeepsItsPlace(t *testing.T) {
	l := New(2, 4)
	l.Add("food", visit(1))
	l.Settle(func(string, *Visit) Judgment { return Forget })
	l.Add("food", visit(2))
	l.Add("seat", visit(2))
	assert.Zero(t, l.TakeForgotten())
	assert.Len(t, l.Settle(func(string, *Visit) Judgment { return Blame }), 2)
}

// The evidence that came for one key judges that key's visits alone.
func TestSettleKeyJudgesOneKeysVisits(t *testing.T) {
	l := New(10, 4)
	l.Add("route queryByIds", visit(1))
	l.Add("route queryByIds", visit(2))
	l.Add("price query", visit(1))
	blamed := l.SettleKey("route queryByIds", func(v *Visit) Judgment {
		if v.At.Before(t0.Add(2 * time.Second)) {
			return Forget
		}
		return Blame
	})
	assert.Equal(t, []Visit{visit(2)}, blamed)
	assert.Empty(t, l.SettleKey("route queryByIds", func(*Visit) Judgment { return Blame }), "judged visits are gone")
	assert.Empty(t, l.SettleKey("unknown", func(*Visit) Judgment { return Blame }))
	assert.Equal(t, map[string][]Visit{"price query": {visit(1)}}, l.Settle(func(string, *Visit) Judgment { return Blame }), "the other key's visit waited")
	assert.Zero(t, l.TakeForgotten())
}

// Visits whose evidence was due and did not come are dropped, not counted
// as lost.
func TestDropBeforeForgetsTheStaleUncounted(t *testing.T) {
	l := New(10, 4)
	for s := range 3 {
		l.Add("route queryByIds", visit(s))
	}
	l.DropBefore("route queryByIds", t0.Add(2*time.Second))
	l.DropBefore("unknown", t0.Add(time.Hour))
	assert.Equal(t, []Visit{visit(2)}, l.SettleKey("route queryByIds", func(*Visit) Judgment { return Blame }))
	assert.Zero(t, l.TakeForgotten())
}
