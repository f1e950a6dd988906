package profile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
)

var t0 = time.Date(2023, 1, 30, 12, 0, 0, 0, time.UTC)

func newProfile() *Profile {
	return New(Options{Window: time.Minute, Quantile: 0.99, Multiplier: 2, MinExcess: 10 * time.Millisecond})
}

func call(caller, callee, op string, d time.Duration) diagnosis.Part {
	return diagnosis.Part{Key: diagnosis.PartKey{Kind: diagnosis.PartCall, Service: caller, Peer: callee, Operation: op}, Value: d}
}

func visit(service, op string, d time.Duration) diagnosis.Part {
	return diagnosis.Part{Key: diagnosis.PartKey{Kind: diagnosis.PartVisit, Service: service, Operation: op}, Value: d}
}

// feed observes one trace every 100 ms from start for d, built by parts.
func feed(p *Profile, start time.Time, d time.Duration, anomalous bool, parts func(i int) []diagnosis.Part) time.Time {
	i := 0
	for at := start; at.Before(start.Add(d)); at = at.Add(100 * time.Millisecond) {
		p.Observe(at, parts(i), nil, anomalous)
		i++
	}
	return start.Add(d)
}

func jitter(i int, base time.Duration) time.Duration {
	return base + time.Duration(i%7)*time.Millisecond
}

func TestUsualIsLearnedAfterTheWindowAndBorrowedUntilEnough(t *testing.T) {
	p := newProfile()
	k := diagnosis.PartKey{Kind: diagnosis.PartCall, Service: "gateway", Peer: "food", Operation: "GET /orders"}
	_, ok := p.Usual(k)
	assert.False(t, ok, "nothing known")
	// Two minutes of a busy call into orders, and a rare one into food.
	now := feed(p, t0, 2*time.Minute, false, func(i int) []diagnosis.Part {
		parts := []diagnosis.Part{call("gateway", "orders", "GET /", jitter(i, 5*time.Millisecond))}
		if i%40 == 0 {
			parts = append(parts, call("gateway", "food", "GET /orders", 3*time.Millisecond))
		}
		return parts
	})
	_ = now
	usual, ok := p.Usual(k)
	require.True(t, ok, "a rare call borrows the usual of all calls")
	assert.InDelta(t, float64(11*time.Millisecond), float64(usual), float64(time.Millisecond))
	assert.True(t, p.Breached(k, 2*time.Second))
	assert.False(t, p.Breached(k, 12*time.Millisecond))
}

func TestShiftedWindowIsNotLearned(t *testing.T) {
	p := newProfile()
	k := diagnosis.PartKey{Kind: diagnosis.PartVisit, Service: "travel", Operation: "GET /trips"}
	now := feed(p, t0, 3*time.Minute, false, func(i int) []diagnosis.Part {
		return []diagnosis.Part{visit("travel", "GET /trips", jitter(i, 20*time.Millisecond))}
	})
	before, ok := p.Usual(k)
	require.True(t, ok)
	// A fault the detection missed: slow traces judged normal, for two windows.
	now = feed(p, now, 2*time.Minute, false, func(int) []diagnosis.Part {
		return []diagnosis.Part{visit("travel", "GET /trips", 400*time.Millisecond)}
	})
	feed(p, now, 2*time.Minute, false, func(i int) []diagnosis.Part {
		return []diagnosis.Part{visit("travel", "GET /trips", jitter(i, 20*time.Millisecond))}
	})
	after, _ := p.Usual(k)
	assert.InDelta(t, float64(before), float64(after), float64(2*time.Millisecond), "the fault did not become the reference")
}

func TestCallSplitEvidence(t *testing.T) {
	p := newProfile()
	normal := func(i int) []diagnosis.Part {
		return []diagnosis.Part{
			call("gateway", "basic", "GET /b", jitter(i, 4*time.Millisecond)),
			call("travel", "basic", "GET /b", jitter(i, 4*time.Millisecond)),
			call("gateway", "seat", "GET /s", jitter(i, 4*time.Millisecond)),
		}
	}
	now := feed(p, t0, 2*time.Minute, false, normal)
	// basic's answers are delayed: every call into it is slow, the gateway's other calls are not.
	feed(p, now, 20*time.Second, true, func(i int) []diagnosis.Part {
		return []diagnosis.Part{
			call("gateway", "basic", "GET /b", 2*time.Second),
			call("travel", "basic", "GET /b", 2*time.Second),
			call("gateway", "seat", "GET /s", jitter(i, 4*time.Millisecond)),
		}
	})
	callee, ok := p.CalleeSlow("gateway", "basic")
	require.True(t, ok)
	caller, ok := p.CallerSlow("gateway", "basic")
	require.True(t, ok)
	// The window also holds the minute before the fault.
	assert.Greater(t, callee, caller+0.25, "the other caller's calls into basic are slow too, the gateway's other calls are not")
	_, ok = p.CallerSlow("travel", "basic")
	assert.False(t, ok, "travel calls nothing else: no evidence")
}

func TestChangedNeedsASustainedShiftBeyondTheWorstNormalWindow(t *testing.T) {
	steady := func(i int) []diagnosis.Part {
		return []diagnosis.Part{call("gateway", "order", "GET /o", jitter(i, 5*time.Millisecond))}
	}
	blame := func(p *Profile, at time.Time, d time.Duration) {
		p.Observe(at, nil, []diagnosis.Blame{{Service: "order", Excess: d}}, true)
	}

	t.Run("a stall of a few seconds is not a change", func(t *testing.T) {
		p := newProfile()
		now := feed(p, t0, 3*time.Minute, false, steady)
		now = feed(p, now, 4*time.Second, true, func(int) []diagnosis.Part {
			return []diagnosis.Part{call("gateway", "order", "GET /o", 400*time.Millisecond)}
		})
		blame(p, now, 15*time.Second)
		now = feed(p, now, 10*time.Second, false, steady)
		assert.False(t, p.Changed("order", now))
	})
	t.Run("a fault that lasts is", func(t *testing.T) {
		p := newProfile()
		now := feed(p, t0, 3*time.Minute, false, steady)
		now = feed(p, now, 40*time.Second, true, func(int) []diagnosis.Part {
			return []diagnosis.Part{call("gateway", "order", "GET /o", 2*time.Second)}
		})
		blame(p, now, time.Minute)
		assert.True(t, p.Changed("order", now))
		assert.False(t, p.Changed("gateway", now), "the caller's own parts did not change")
	})
	t.Run("a fresh deployment is not held back", func(t *testing.T) {
		p := newProfile()
		assert.True(t, p.Changed("order", t0))
	})
}

func TestErrorsSurgeOnlyBeyondTheUsualRate(t *testing.T) {
	p := newProfile()
	steady := func(i int) []diagnosis.Part {
		return []diagnosis.Part{visit("execute", "POST /run", jitter(i, 5*time.Millisecond))}
	}
	// Ten minutes with an error every 10 s: the service's usual errors.
	now := t0
	for range 60 {
		now = feed(p, now, 10*time.Second, false, steady)
		p.ObserveError(now, "execute", "order status wrong")
	}
	assert.False(t, p.errorsSurging("execute", p.last), "six errors a minute, as usual")
	for range 20 {
		now = feed(p, now, time.Second, false, steady)
		p.ObserveError(now, "execute", "order status wrong")
	}
	assert.True(t, p.errorsSurging("execute", p.last), "twenty in twenty seconds")
	now = feed(p, now, 2*time.Minute, false, steady)
	assert.False(t, p.errorsSurging("execute", p.last))
	for range 3 {
		now = feed(p, now, time.Second, false, steady)
		p.ObserveError(now, "execute", "connection refused by <*>")
	}
	assert.True(t, p.errorsSurging("execute", p.last), "a new error")
	assert.False(t, p.errorsSurging("food", p.last), "no errors at all")
}

func TestPoissonTail(t *testing.T) {
	assert.Equal(t, 1.0, poissonTail(0, 3))
	assert.Equal(t, 0.0, poissonTail(1, 0))
	assert.InDelta(t, 1-0.0497870684, poissonTail(1, 3), 1e-9)
	assert.InDelta(t, 0.0183, poissonTail(4, 1), 1e-3)
}

func TestMaxKeysIsCounted(t *testing.T) {
	p := New(Options{Window: time.Minute, Quantile: 0.99, Multiplier: 2, MaxKeys: 3})
	p.Observe(t0, []diagnosis.Part{visit("a", "x", time.Millisecond), visit("b", "y", time.Millisecond)}, nil, false)
	assert.Equal(t, int64(1), p.TakeRejected(), "a/x, its service level and the kind level fill the three keys")
	assert.Equal(t, int64(0), p.TakeRejected())
}
