package simulate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

func TestRandomScenarios(t *testing.T) {
	for _, n := range []int{5, 12, 30} {
		sc, err := model.Random(uint64(n), model.RandomOptions{Services: n, Faults: 2, Window: "every 20s for 5s from 5s"})
		require.NoError(t, err)
		e, err := New(sc, Options{Seed: 1, Start: t0, Rate: 30})
		require.NoError(t, err)
		c := run(t, e, 20*time.Second, 250*time.Millisecond)
		traces := checkTraces(t, c)
		assert.Greater(t, len(traces)+e.Pending(), 500, "n=%d traces=%d pending=%d", n, len(traces), e.Pending())
		require.Len(t, c.truth, 2)
		assert.Equal(t, t0.Add(5*time.Second), c.truth[0].Start)
		assert.Equal(t, t0.Add(10*time.Second), c.truth[1].Start)
	}
}
