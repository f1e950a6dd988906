package baseline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

	b.Observe(Key{"other", "x"}, time.Second, time.Second)
	assert.Equal(t, int64(1), b.TakeRejected(), "max keys")
	assert.Zero(t, b.TakeRejected(), "taken once")
}
