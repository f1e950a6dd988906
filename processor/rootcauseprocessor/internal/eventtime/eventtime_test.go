package eventtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type wall struct{ t time.Time }

func (w *wall) now() time.Time { return w.t }

func newClock(w *wall) *Clock {
	return New(Options{Wall: w.now, Step: time.Second, IdleAfter: 5 * time.Second, MaxSkew: time.Minute})
}

func TestClockFollowsTheData(t *testing.T) {
	w := &wall{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	c := newClock(w)
	assert.Equal(t, w.t, c.Now(), "processing time before any span")
	recorded := time.Date(2023, 1, 30, 11, 39, 0, 0, time.UTC)
	c.Observe(recorded.UnixNano())
	assert.Equal(t, recorded, c.Now(), "a recording moves the clock back to its own time")
	assert.Equal(t, []time.Time{recorded}, c.Due(nil), "the grid starts at the first span")

	c.Observe(recorded.Add(3500 * time.Millisecond).UnixNano())
	assert.Equal(t, []time.Time{recorded.Add(time.Second), recorded.Add(2 * time.Second), recorded.Add(3 * time.Second)}, c.Due(nil),
		"a jump runs every grid point it passed, in order")
	assert.Empty(t, c.Due(nil))

	c.Observe(recorded.UnixNano())
	assert.Equal(t, recorded.Add(3500*time.Millisecond), c.Now(), "late data never moves time back")

	w.t = w.t.Add(4 * time.Second)
	assert.Equal(t, recorded.Add(3500*time.Millisecond), c.Now(), "processing time does not count while data flows")
	w.t = w.t.Add(2 * time.Second)
	assert.Equal(t, recorded.Add(9500*time.Millisecond), c.Now(), "idle for IdleAfter: time moves with processing time")
}

func TestClockRefusesImplausibleTimestamps(t *testing.T) {
	w := &wall{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	c := newClock(w)
	ok, future := c.Plausible(w.t.Add(2*time.Minute).UnixNano(), w.t)
	assert.False(t, ok)
	assert.True(t, future)
	ok, future = c.Plausible(0, w.t)
	assert.False(t, ok)
	assert.False(t, future)
	ok, _ = c.Plausible(w.t.Add(30*time.Second).UnixNano(), w.t)
	assert.True(t, ok, "within the skew")
}

func TestClockCatchUpIsBounded(t *testing.T) {
	w := &wall{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	c := New(Options{Wall: w.now, Step: time.Second, IdleAfter: time.Second, MaxCatchUp: 10})
	start := time.Date(2023, 1, 30, 0, 0, 0, 0, time.UTC)
	c.Observe(start.UnixNano())
	c.Due(nil)
	c.Observe(start.Add(time.Hour).UnixNano())
	due := c.Due(nil)
	assert.Len(t, due, 10)
	assert.Equal(t, start.Add(time.Hour), due[len(due)-1])
}

// TestTheGridWaitsForTheLogsWhileTheyFlow: spans 10 s ahead of the logs (an
// exporter that batches logs longer than spans, or a recording sent signal
// by signal) hold the grid back to the latest log, by at most LogWait, so
// that a trace is not decided before its logs came; once the logs stop
// flowing for IdleAfter, the spans alone lead again.
func TestTheGridWaitsForTheLogsWhileTheyFlow(t *testing.T) {
	w := &wall{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	c := New(Options{Wall: w.now, Step: time.Second, IdleAfter: 5 * time.Second, MaxSkew: time.Minute, LogWait: 5 * time.Second})
	start := time.Date(2023, 1, 30, 0, 0, 0, 0, time.UTC)
	c.Observe(start.UnixNano())
	c.ObserveLogs(start.UnixNano())
	assert.Equal(t, []time.Time{start}, c.Due(nil))

	c.Observe(start.Add(10 * time.Second).UnixNano())
	c.ObserveLogs(start.Add(2 * time.Second).UnixNano())
	due := c.Due(nil)
	assert.Equal(t, start.Add(5*time.Second), due[len(due)-1], "held back to the spans less LogWait: the logs are further behind")
	c.ObserveLogs(start.Add(8 * time.Second).UnixNano())
	assert.Equal(t, []time.Time{start.Add(6 * time.Second), start.Add(7 * time.Second), start.Add(8 * time.Second)}, c.Due(nil), "up to the latest log")
	c.ObserveLogs(start.Add(30 * time.Second).UnixNano())
	assert.Equal(t, []time.Time{start.Add(9 * time.Second), start.Add(10 * time.Second)}, c.Due(nil), "never beyond the spans")
	assert.Equal(t, start.Add(10*time.Second), c.Now(), "the clock itself follows the spans")

	c.Observe(start.Add(20 * time.Second).UnixNano())
	w.t = w.t.Add(5 * time.Second) // no logs for IdleAfter, while spans flow
	c.Observe(start.Add(20 * time.Second).UnixNano())
	due = c.Due(nil)
	assert.Equal(t, start.Add(20*time.Second), due[len(due)-1], "logs that stopped hold nothing back")
}
