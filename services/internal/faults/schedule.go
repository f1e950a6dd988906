package faults

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Window switches one fault on at Start (an offset from when the schedule runs)
// and off again after Duration.
type Window struct {
	Name     string
	Start    time.Duration
	Duration time.Duration
}

// ParseSchedule parses a comma-separated list of NAME@START+DURATION windows,
// for example "pool_throttle@30s+40s,missing_index@2m+30s".
func ParseSchedule(s string) ([]Window, error) {
	var out []Window
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, rest, ok := strings.Cut(item, "@")
		start, dur, ok2 := strings.Cut(rest, "+")
		if !ok || !ok2 || name == "" {
			return nil, fmt.Errorf("fault schedule %q: want NAME@START+DURATION", item)
		}
		st, err := time.ParseDuration(start)
		if err != nil || st < 0 {
			return nil, fmt.Errorf("fault schedule %q: bad start %q", item, start)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("fault schedule %q: bad duration %q", item, dur)
		}
		out = append(out, Window{Name: name, Start: st, Duration: d})
	}
	return out, nil
}

// Validate reports windows that name faults the set does not have.
func (s *Set) Validate(windows []Window) error {
	known := map[string]bool{}
	for _, n := range s.Names() {
		known[n] = true
	}
	for _, w := range windows {
		if !known[w.Name] {
			return fmt.Errorf("fault schedule: unknown fault %q (known: %s)", w.Name, strings.Join(s.Names(), ", "))
		}
	}
	return nil
}

// RunSchedule switches faults as the windows say until ctx is done or the last
// window has ended. Switch errors are logged, not fatal: a schedule keeps going.
func (s *Set) RunSchedule(ctx context.Context, windows []Window) {
	type event struct {
		at   time.Duration
		name string
		on   bool
	}
	var events []event
	for _, w := range windows {
		events = append(events, event{w.Start, w.Name, true}, event{w.Start + w.Duration, w.Name, false})
	}
	// By time; at equal times "off" goes first so that back-to-back windows work.
	slices.SortStableFunc(events, func(a, b event) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		switch {
		case a.on == b.on:
			return 0
		case a.on:
			return 1
		default:
			return -1
		}
	})
	start := time.Now()
	for _, e := range events {
		t := time.NewTimer(time.Until(start.Add(e.at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.Switch(ctx, e.name, e.on); err != nil {
			s.logger.Error("scheduled fault switch failed", "fault", e.name, "on", e.on, "error", err)
		}
	}
}
