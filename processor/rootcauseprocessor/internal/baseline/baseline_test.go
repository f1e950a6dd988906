package baseline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWarmupAndThreshold(t *testing.T) {
	b := New(Options{Quantile: 0.99, Multiplier: 2, MinExcess: 50 * time.Millisecond, Warmup: 10, MaxKeys: 1})
	k := Key{"catalog", "GET /"}
	for i := range 9 {
		b.Observe(k, 20*time.Millisecond, time.Duration(i)*time.Millisecond)
	}
	_, ok := b.Threshold(k)
	assert.False(t, ok, "warming up")
	b.Observe(k, 20*time.Millisecond, 5*time.Millisecond)
	th, ok := b.Threshold(k)
	assert.True(t, ok)
	assert.InDelta(t, float64(70*time.Millisecond), float64(th), float64(time.Millisecond), "quantile + min_excess wins over 2 × quantile")
	typ, ok := b.Typical(k)
	assert.True(t, ok)
	assert.InDelta(t, float64(4*time.Millisecond), float64(typ), float64(time.Millisecond))
}

// TestAFullTableForgetsTheLeastRecentlyObservedOperation: once MaxKeys
// operations are learned, a new one takes the place of the one whose normal
// traffic stopped longest ago, so a burst of made-up names cannot keep a
// real new operation from being learned, and lookups alone keep nothing.
func TestAFullTableForgetsTheLeastRecentlyObservedOperation(t *testing.T) {
	b := New(Options{Quantile: 0.99, Multiplier: 2, Warmup: 1, MaxKeys: 2})
	old, busy, fresh := Key{"shop", "old"}, Key{"shop", "busy"}, Key{"shop", "new"}
	b.Observe(old, time.Millisecond, time.Millisecond)
	b.Observe(busy, time.Millisecond, time.Millisecond)
	_, ok := b.Threshold(old) // a lookup is not traffic
	require.True(t, ok)
	b.Observe(busy, time.Millisecond, time.Millisecond)
	b.Observe(fresh, time.Second, time.Second)

	_, ok = b.Threshold(fresh)
	assert.True(t, ok, "the new operation is learned")
	_, ok = b.Threshold(busy)
	assert.True(t, ok, "the operation with recent traffic stays")
	_, ok = b.Threshold(old)
	assert.False(t, ok, "the operation observed least recently was forgotten")
	assert.Equal(t, int64(1), b.TakeForgotten())
	assert.Zero(t, b.TakeForgotten(), "taken once")
}

// TestBaselinesOutliveARestart: restored baselines give the thresholds of
// the saved ones at once, with no warm-up; unreadable ones are skipped.
func TestBaselinesOutliveARestart(t *testing.T) {
	opts := Options{Quantile: 0.99, Multiplier: 2, Warmup: 50}
	before := New(opts)
	k := Key{Service: "payment", Operation: "POST /pay"}
	for i := range 200 {
		before.Observe(k, time.Duration(10+i%20)*time.Millisecond, 5*time.Millisecond)
	}
	want, ok := before.Threshold(k)
	require.True(t, ok)

	saved := before.Save()
	saved = append(saved, Saved{Service: "broken", Operation: "GET /", N: 100, Duration: []byte{0xff, 0xff}, Exclusive: nil})
	after := New(opts)
	assert.Equal(t, 1, after.Restore(saved))
	got, ok := after.Threshold(k)
	require.True(t, ok, "no warm-up after a restart")
	assert.Equal(t, want, got)
	typical, ok := after.Typical(k)
	require.True(t, ok)
	assert.InDelta(t, 5*time.Millisecond, typical, float64(100*time.Microsecond))
	_, ok = after.Threshold(Key{Service: "broken", Operation: "GET /"})
	assert.False(t, ok)
}
