package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRandom(t *testing.T) {
	for seed := range uint64(50) {
		n := 5 + int(seed%26)
		sc, err := Random(seed, RandomOptions{Services: n, Faults: 3})
		require.NoError(t, err, "seed %d", seed)
		assert.Len(t, sc.Services, n)
		assert.Len(t, sc.Faults, 3)
		again, err := Random(seed, RandomOptions{Services: n, Faults: 3})
		require.NoError(t, err)
		assert.Equal(t, sc, again)
	}
}

func TestRandomWindowsDoNotOverlap(t *testing.T) {
	sc, err := Random(1, RandomOptions{Services: 8, Faults: 3, Window: "every 20m for 2m"})
	require.NoError(t, err)
	assert.Equal(t, []string{"every 20m0s for 2m0s from 0s"}, sc.Faults[0].Windows)
	assert.Equal(t, []string{"every 20m0s for 2m0s from 2m0s"}, sc.Faults[1].Windows)
	assert.Equal(t, []string{"every 20m0s for 2m0s from 4m0s"}, sc.Faults[2].Windows)
}
