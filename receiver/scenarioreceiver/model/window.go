package model // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

const day = 24 * time.Hour

// Window is a recurring or one-off interval on the scenario clock.
type Window struct {
	// daily: [start, end) is a time of day, end may be past midnight.
	daily bool
	// every: period > 0; a one-off window ("at") has period 0.
	period time.Duration
	// offset is the time of day (daily) or the offset from scenario start.
	offset time.Duration
	length time.Duration
	text   string
}

// ParseWindow parses "daily 14:00-15:00", "every 30m for 5m [from 10m]" or "at 10m for 5m".
func ParseWindow(s string) (Window, error) {
	f := strings.Fields(s)
	w := Window{text: s}
	switch {
	case len(f) == 2 && f[0] == "daily":
		from, to, ok := strings.Cut(f[1], "-")
		if !ok {
			return w, fmt.Errorf("window %q: want \"daily HH:MM-HH:MM\"", s)
		}
		a, err := ParseTimeOfDay(from)
		if err != nil {
			return w, fmt.Errorf("window %q: %w", s, err)
		}
		b, err := ParseTimeOfDay(to)
		if err != nil {
			return w, fmt.Errorf("window %q: %w", s, err)
		}
		if b <= a {
			b += day
		}
		w.daily, w.offset, w.length = true, a, b-a
		return w, nil
	case (len(f) == 4 || len(f) == 6) && f[0] == "every" && f[2] == "for":
		p, err1 := time.ParseDuration(f[1])
		l, err2 := time.ParseDuration(f[3])
		var o time.Duration
		var err3 error
		if len(f) == 6 {
			if f[4] != "from" {
				return w, fmt.Errorf("window %q: want \"every D for D [from D]\"", s)
			}
			o, err3 = time.ParseDuration(f[5])
		}
		if err := errors.Join(err1, err2, err3); err != nil {
			return w, fmt.Errorf("window %q: %w", s, err)
		}
		if l < time.Second || l > p || o < 0 {
			return w, fmt.Errorf("window %q: want 1s <= length <= period and offset >= 0", s)
		}
		w.period, w.length, w.offset = p, l, o
		return w, nil
	case len(f) == 4 && f[0] == "at" && f[2] == "for":
		o, err1 := time.ParseDuration(f[1])
		l, err2 := time.ParseDuration(f[3])
		if err := errors.Join(err1, err2); err != nil {
			return w, fmt.Errorf("window %q: %w", s, err)
		}
		if o < 0 || l < time.Second {
			return w, fmt.Errorf("window %q: want offset >= 0 and length >= 1s", s)
		}
		w.offset, w.length = o, l
		return w, nil
	}
	return w, fmt.Errorf("window %q: want \"daily HH:MM-HH:MM\", \"every D for D [from D]\" or \"at D for D\"", s)
}

// ParseTimeOfDay parses "HH:MM" or "HH:MM:SS" into the time since midnight.
func ParseTimeOfDay(s string) (time.Duration, error) {
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second, nil
		}
	}
	return 0, fmt.Errorf("time of day %q: want HH:MM or HH:MM:SS", s)
}

// String returns the window as written.
func (w Window) String() string { return w.text }

// Next returns the first occurrence [a, b) with b > s, in scenario time elapsed
// since the scenario started at time of day startAt. ok is false when there is none.
func (w Window) Next(s, startAt time.Duration) (a, b time.Duration, ok bool) {
	switch {
	case w.daily:
		// Day k's window starts at k*day + offset - startAt.
		base := w.offset - startAt
		k := floorDiv(s-base-w.length, day) + 1
		a = base + k*day
		if a+w.length <= s {
			a += day
		}
		return a, a + w.length, true
	case w.period > 0:
		k := max(floorDiv(s-w.offset-w.length, w.period)+1, 0)
		a = w.offset + k*w.period
		if a+w.length <= s {
			a += w.period
		}
		return a, a + w.length, true
	default:
		if w.offset+w.length <= s {
			return 0, 0, false
		}
		return w.offset, w.offset + w.length, true
	}
}

func floorDiv(a, b time.Duration) time.Duration {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
