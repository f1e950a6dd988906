package profile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
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
		ps := parts(i)
		p.Observe(at, ps, nil, anomalous)
		var services []string
		for _, part := range ps {
			services = append(services, part.Key.Service)
			if part.Key.Peer != "" {
				services = append(services, part.Key.Peer)
			}
		}
		p.ObserveTrace(at, services)
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
		if i%200 == 0 {
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

// TestALowRateKeyScalesItsPeersTail: a call seen a few dozen times has a
// median of its own long before a p99; its threshold is that median times
// the spread its peers share (their p99 over their median), not the p99 of
// all calls, which the slowest of them set.
func TestALowRateKeyScalesItsPeersTail(t *testing.T) {
	p := newProfile()
	k := diagnosis.PartKey{Kind: diagnosis.PartCall, Service: "basic", Peer: "station", Operation: "POST /stations/idlist"}
	feed(p, t0, 3*time.Minute, false, func(i int) []diagnosis.Part {
		// A busy slow call (about 200 ms, p99 1.3× its median) sets the
		// tail of all calls; the rare fast one runs every 4 s.
		parts := []diagnosis.Part{call("travel", "route", "GET /routes", jitter(i, 200*time.Millisecond)*time.Duration(1+i%100/99))}
		if i%40 == 0 {
			parts = append(parts, call("basic", "station", "POST /stations/idlist", jitter(i, 10*time.Millisecond)))
		}
		return parts
	})
	usual, ok := p.Usual(k)
	require.True(t, ok)
	assert.Less(t, usual, 40*time.Millisecond, "the rare call's threshold follows its own median, not the slow call's p99")
	assert.GreaterOrEqual(t, usual, 16*time.Millisecond, "it is never below what the rare call itself took")
	assert.True(t, p.Breached(k, 90*time.Millisecond), "a rare call 9× its median breaches")
	assert.False(t, p.Breached(k, 25*time.Millisecond))
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
	t.Run("a fault does not hide the next, smaller one", func(t *testing.T) {
		p := newProfile()
		now := feed(p, t0, 3*time.Minute, false, steady)
		fault := func(d, excess time.Duration) {
			for end := now.Add(d); now.Before(end); now = now.Add(100 * time.Millisecond) {
				p.Observe(now, []diagnosis.Part{call("gateway", "order", "GET /o", 2*time.Second)}, []diagnosis.Blame{{Service: "order", Excess: excess}}, true)
			}
		}
		// A large fault: the windows that close before its median moves
		// past the tail (half a window) are under suspicion, not normal.
		fault(40*time.Second, 2*time.Second)
		require.True(t, p.Changed("order", now))
		now = feed(p, now, 3*time.Minute, false, steady)
		require.False(t, p.Changed("order", now))
		// A later fault that blames a tenth as much per request.
		fault(40*time.Second, 200*time.Millisecond)
		assert.True(t, p.Changed("order", now))
	})
	t.Run("a fresh deployment is not held back", func(t *testing.T) {
		p := newProfile()
		assert.True(t, p.Changed("order", t0))
	})
}

// Two error templates.
const (
	orderStatusWrong logtemplate.ID = iota + 1
	connectionRefused
)

func TestErrorsSurgeOnlyBeyondTheUsualShare(t *testing.T) {
	p := newProfile()
	steady := func(i int) []diagnosis.Part {
		return []diagnosis.Part{visit("execute", "POST /run", jitter(i, 5*time.Millisecond))}
	}
	// Ten minutes of ten traces a second, one in a hundred failing: the
	// service's usual errors.
	now := t0
	for range 60 {
		now = feed(p, now, 10*time.Second, false, steady)
		p.ObserveError(now, "execute", orderStatusWrong)
	}
	assert.False(t, p.errorsSurging("execute", p.last), "six errors a minute, as usual")
	// Three times the traffic, three times the errors: the same share.
	for range 6 {
		now = feedTraces(p, now, 10*time.Second, 3, steady)
		for range 3 {
			p.ObserveError(now, "execute", orderStatusWrong)
		}
	}
	assert.False(t, p.errorsSurging("execute", p.last), "eighteen errors in a minute of three times the traffic")
	for range 20 {
		now = feed(p, now, time.Second, false, steady)
		p.ObserveError(now, "execute", orderStatusWrong)
	}
	assert.True(t, p.errorsSurging("execute", p.last), "one trace in ten failing")
	now = feed(p, now, 2*time.Minute, false, steady)
	assert.False(t, p.errorsSurging("execute", p.last))
	p.ObserveError(now, "execute", orderStatusWrong) // at its usual rate
	for range 3 {
		now = feed(p, now, time.Second, false, steady)
		p.ObserveError(now, "execute", connectionRefused)
	}
	assert.True(t, p.errorsSurging("execute", p.last), "a new error")
	assert.True(t, p.TemplateSurging("execute", connectionRefused, now), "the new error, judged alone")
	assert.False(t, p.TemplateSurging("execute", orderStatusWrong, now), "the usual error beside it, judged alone")
	assert.False(t, p.errorsSurging("food", p.last), "no errors at all")
}

func TestErrorsOfAShortHistoryAreJudgedByWhatItShows(t *testing.T) {
	p := newProfile()
	// One minute of history in which the only call to execute failed.
	p.ObserveTrace(t0, []string{"gateway", "execute"})
	p.ObserveError(t0, "execute", orderStatusWrong)
	now := feed(p, t0, time.Minute, false, func(i int) []diagnosis.Part {
		return []diagnosis.Part{visit("gateway", "GET /", 5*time.Millisecond)}
	})
	// Now every call to it fails, as in its history: one failure in one
	// trace says the share may well be all.
	for range 6 {
		now = now.Add(5 * time.Second)
		p.ObserveTrace(now, []string{"gateway", "execute"})
		p.ObserveError(now, "execute", orderStatusWrong)
	}
	assert.False(t, p.errorsSurging("execute", p.last), "six of six, as one of one")
	// execute has no latency reference: only its errors can say it changed,
	// and they are its usual ones (chronic is not new). A service that is
	// new and not failing is not held back.
	assert.False(t, p.Changed("execute", now), "failing as usual, with nothing else to judge")
	assert.True(t, p.Changed("catalog", now), "no reference, no errors: the first window of a deployment")
	// The gateway never failed in 600 traces: three failures of a new error are.
	for range 3 {
		now = now.Add(time.Second)
		p.ObserveTrace(now, []string{"gateway"})
		p.ObserveError(now, "gateway", connectionRefused)
	}
	assert.True(t, p.errorsSurging("gateway", p.last))
}

// feedTraces is feed with perTick traces at each tick.
func feedTraces(p *Profile, start time.Time, d time.Duration, perTick int, parts func(i int) []diagnosis.Part) time.Time {
	for range perTick - 1 {
		feed(p, start, d, false, parts)
	}
	return feed(p, start, d, false, parts)
}

func TestBetaBinomialTail(t *testing.T) {
	assert.InDelta(t, 1.0, betaBinomialTail(0, 10, 1, 1), 0)
	assert.InDelta(t, 0.0, betaBinomialTail(11, 10, 1, 1), 0)
	// Beta(1, 1) makes every count of 0..N equally likely.
	assert.InDelta(t, 5.0/11, betaBinomialTail(6, 10, 1, 1), 1e-9)
	// A long history is the binomial test: a share of 1%, 4 of 100 has P ≈ 0.0184.
	assert.InDelta(t, 0.0184, betaBinomialTail(4, 100, 1000, 99000), 1e-3)
}

func TestMaxKeysIsCounted(t *testing.T) {
	p := New(Options{Window: time.Minute, Quantile: 0.99, Multiplier: 2, MaxKeys: 3})
	p.Observe(t0, []diagnosis.Part{visit("a", "x", time.Millisecond), visit("b", "y", time.Millisecond)}, nil, false)
	assert.Equal(t, int64(1), p.TakeRejected(), "a/x, its service level and the kind level fill the three keys")
	assert.Equal(t, int64(0), p.TakeRejected())
}

func TestNewPathsAreNovelOnlyWhereNewPathsAreRare(t *testing.T) {
	p := newProfile()
	usual, branch, fault := uint64(1), uint64(2), uint64(3)
	now := t0
	// A young operation: nothing is novel.
	p.ObservePattern(now, "contacts", "GET /", "find", usual, nil)
	assert.False(t, p.NovelPattern("contacts", "GET /", "find", fault), "too new to judge")
	// Two minutes of one path, with another branch taken now and then.
	for i := range 1200 {
		now = now.Add(100 * time.Millisecond)
		pat := usual
		if i%300 == 0 {
			pat = branch
		}
		p.ObservePattern(now, "contacts", "GET /", "find", pat, nil)
	}
	assert.False(t, p.NovelPattern("contacts", "GET /", "find", usual))
	assert.False(t, p.NovelPattern("contacts", "GET /", "find", branch), "a branch taken before is learned after a window")
	assert.False(t, p.NovelPattern("contacts", "GET /", "find", fault), "one span on a path never taken: the next hundred may hold one")
	for range 3 {
		now = now.Add(100 * time.Millisecond)
		p.ObservePattern(now, "contacts", "GET /", "find", fault, nil)
	}
	assert.True(t, p.NovelPattern("contacts", "GET /", "find", fault), "four in a window, where one in 1200 took a new path")

	// An operation that logs a variable number of items writes a new
	// pattern every time: new paths are not rare, and none is novel.
	for i := range 1200 {
		now = now.Add(100 * time.Millisecond)
		p.ObservePattern(now, "route", "GET /", "queryByIds", uint64(100+i), nil)
	}
	assert.False(t, p.NovelPattern("route", "GET /", "queryByIds", 99999))
}

// TestAFailureIsJudgedOnceItCannotBeSteadySinceTheStart: a collector that
// has just started judges a service's failures a change only when the
// service worked, before its first failure, through more requests than its
// current error rate makes likely; a service failing from its first
// request, or rarely, stands until half a window of history exists.
func TestAFailureIsJudgedOnceItCannotBeSteadySinceTheStart(t *testing.T) {
	p := newProfile()
	now := t0
	trace := func(svc string, failed bool) {
		now = now.Add(200 * time.Millisecond)
		p.ObserveTrace(now, []string{svc})
		if failed {
			p.ObserveError(now, svc, connectionRefused)
		}
	}
	for i := range 20 {
		trace("payment", i%2 == 0) // half its requests fail from the first one
		trace("order", false)      // order works...
	}
	for range 10 {
		trace("order", true) // ...then fails in every request
	}
	assert.False(t, p.Judged("payment", now), "failing since the start: maybe steady")
	assert.True(t, p.Judged("order", now), "20 requests worked, then 10 of 10 failed: a change")
	assert.True(t, p.Judged("catalog", now), "no failure, nothing standing")
	for range 90 {
		trace("gateway", false)
		now = now.Add(time.Second)
	}
	assert.True(t, p.Judged("payment", now), "after a window and a half the history judges")
}

// A path an operation rarely took (a usual log line skipped once) that it
// now takes in most of its spans is its usual path changing: a step its
// code skips on every request. The workload taking one of the operation's
// common paths more often is not, nor a rare path taken by the first spans
// of a window too short to tell.
func TestAUsualPathThatChangesIsNovel(t *testing.T) {
	const routine, skipped, other = uint64(1), uint64(2), uint64(3)
	run := func(p *Profile, now time.Time, n int, step time.Duration, path func(i int) uint64) time.Time {
		for i := range n {
			now = now.Add(step)
			p.ObservePattern(now, "route", "GET /", "queryByIds", path(i), nil)
		}
		return now
	}
	// A minute of history, one span in 36 skipping the line; then a gap.
	p := newProfile()
	now := run(p, t0, 36, 1700*time.Millisecond, func(i int) uint64 {
		if i == 20 {
			return skipped
		}
		return routine
	})
	now = now.Add(10 * time.Minute)
	now = run(p, now, 2, time.Second, func(int) uint64 { return skipped })
	assert.False(t, p.NovelPattern("route", "GET /", "queryByIds", skipped), "two spans of a window tell nothing yet")
	run(p, now, 20, time.Second, func(int) uint64 { return skipped })
	assert.True(t, p.NovelPattern("route", "GET /", "queryByIds", skipped), "the line is skipped on every request")
	assert.False(t, p.NovelPattern("route", "GET /", "queryByIds", routine))

	// Two common paths, 60/40 before; the second takes all spans now.
	p = newProfile()
	now = run(p, t0, 50, 1200*time.Millisecond, func(i int) uint64 {
		if i%5 < 2 {
			return other
		}
		return routine
	})
	now = now.Add(10 * time.Minute)
	run(p, now, 50, time.Second, func(int) uint64 { return other })
	assert.False(t, p.NovelPattern("route", "GET /", "queryByIds", other), "a common path taken more often is the workload")
}

func TestBinomialTail(t *testing.T) {
	assert.InDelta(t, 0.01, binomialTail(2, 2, 0.1), 1e-12)
	assert.Greater(t, binomialTail(2, 2, 0.1), 0.01, "two of two at one in ten is not less than once in a hundred")
	assert.InDelta(t, 1-0.9*0.9*0.9-3*0.1*0.9*0.9, binomialTail(2, 3, 0.1), 1e-12)
	assert.InDelta(t, 1.0, binomialTail(0, 5, 0.1), 0)
	assert.InDelta(t, 0.0, binomialTail(6, 5, 0.1), 0)
}

// Paths with lines the operation never wrote (a message whose words vary
// makes new templates as easily as a new branch does) are no evidence of a
// changed behaviour by their number alone; a known step skipped is. And an
// operation's paths are judged per entry: the spans of another endpoint's
// visits take their own paths.
func TestOnlyKnownLinesInAnotherMixChangeAPath(t *testing.T) {
	const a, b = logtemplate.ID(1), logtemplate.ID(2)
	history := func(p *Profile) time.Time {
		now := t0
		for i := range 40 {
			now = now.Add(1500 * time.Millisecond)
			p.ObservePattern(now, "route", "GET /ids", "queryByIds", 1, []logtemplate.ID{a, b})
			if i%4 == 0 {
				p.ObservePattern(now, "route", "GET /id", "queryByIds", 2, []logtemplate.ID{a})
			}
		}
		return now.Add(10 * time.Minute)
	}
	p := newProfile()
	now := history(p)
	for i := range 30 {
		now = now.Add(time.Second)
		// Each span a line never seen: a station's name in the message.
		p.ObservePattern(now, "route", "GET /ids", "queryByIds", uint64(100+i), []logtemplate.ID{a, logtemplate.ID(100 + i)})
	}
	assert.False(t, p.NovelPattern("route", "GET /ids", "queryByIds", 129), "new words, not a new mix of steps")

	p = newProfile()
	now = history(p)
	for range 30 {
		now = now.Add(time.Second)
		p.ObservePattern(now, "route", "GET /ids", "queryByIds", 2, []logtemplate.ID{a}) // b skipped
	}
	assert.True(t, p.NovelPattern("route", "GET /ids", "queryByIds", 2), "a known step skipped on every request")
	assert.False(t, p.NovelPattern("route", "GET /id", "queryByIds", 2), "the usual path of the other endpoint")
}
