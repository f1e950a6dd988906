package model

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowNext(t *testing.T) {
	h, m := time.Hour, time.Minute
	tests := []struct {
		window     string
		startAt, s time.Duration
		a, b       time.Duration
		ok         bool
	}{
		{"daily 14:00-15:00", 13*h + 59*m, 0, m, m + h, true},
		{"daily 14:00-15:00", 14*h + 30*m, 0, -30 * m, 30 * m, true},
		{"daily 14:00-15:00", 14*h + 30*m, 30 * m, 23*h + 30*m, 24*h + 30*m, true},
		{"daily 23:00-01:00", 0, 0, -h, h, true},
		{"every 30m for 5m", 0, 0, 0, 5 * m, true},
		{"every 30m for 5m", 0, 5 * m, 30 * m, 35 * m, true},
		{"every 30m for 5m from 10m", 0, 0, 10 * m, 15 * m, true},
		{"at 10m for 5m", 12 * h, 11 * m, 10 * m, 15 * m, true},
		{"at 10m for 5m", 12 * h, 15 * m, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.window, func(t *testing.T) {
			w, err := ParseWindow(tt.window)
			require.NoError(t, err)
			a, b, ok := w.Next(tt.s, tt.startAt)
			assert.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.a, a)
				assert.Equal(t, tt.b, b)
			}
		})
	}
}

func TestParseWindowErrors(t *testing.T) {
	for _, s := range []string{"", "daily 14:00", "daily 25:00-26:00", "every 5m for 10m", "every x for 5m", "at -1m for 1m", "sometimes"} {
		_, err := ParseWindow(s)
		assert.Error(t, err, s)
	}
}
