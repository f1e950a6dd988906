// Package eventtime is the processor's clock: time as the telemetry tells it
// (a watermark from span timestamps), so that a recording replayed as fast as
// possible gets the same verdicts as the live system did. Processing time
// moves the clock only while no spans arrive, so that decisions still happen
// when traffic stops.
//
// The processor's periodic work (deciding the traces whose wait is over,
// opening and resolving incidents, releasing held logs) runs at the points of
// a fixed grid of event time, each point once and in order, whatever the
// arrival speed: a jump of the watermark runs every grid point it passed.
package eventtime // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/eventtime"

import (
	"sync"
	"time"
)

// Options configures a Clock.
type Options struct {
	// Wall is processing time. Required.
	Wall func() time.Time
	// Step is the spacing of the grid of event time the periodic work runs at. Must be positive.
	Step time.Duration
	// IdleAfter: once no span arrived for this long (processing time), the
	// clock moves with processing time from the watermark. Must be positive.
	IdleAfter time.Duration
	// MaxSkew: a timestamp later than processing time plus MaxSkew is from a
	// host whose clock is wrong (or garbage) and does not move the watermark.
	MaxSkew time.Duration
	// LogWait is how far the grid may stay behind the span watermark for
	// the trace-linked logs: while they flow (one arrived within IdleAfter),
	// the grid runs up to the latest of them, at most LogWait behind the
	// spans, so that a trace is decided with its logs however the two
	// signals were batched. Zero: the grid follows the spans alone.
	LogWait time.Duration
	// MaxCatchUp bounds the grid points run for one jump of the clock; a
	// longer jump runs only its last MaxCatchUp points (earlier ones could
	// only resolve incidents that the later ones resolve too). Zero means 100000.
	MaxCatchUp int
}

// Clock is safe for concurrent use.
type Clock struct {
	opts Options

	mu sync.Mutex
	// watermark is the latest valid span timestamp seen; zero before the first.
	watermark time.Time
	// lastArrival is the processing time of the latest span batch.
	lastArrival time.Time
	// now is the event time, never decreasing once data arrived.
	now time.Time
	// due is the last grid point handed out by Due; grounded once it is a
	// point of the telemetry's time, not processing time.
	due      time.Time
	grounded bool
	// logWatermark is the latest plausible trace-linked log time seen;
	// lastLogArrival the processing time of the latest such batch.
	logWatermark   time.Time
	lastLogArrival time.Time
}

// New returns a clock that reads processing time until the first span arrives.
func New(opts Options) *Clock {
	if opts.MaxCatchUp <= 0 {
		opts.MaxCatchUp = 100_000
	}
	return &Clock{opts: opts}
}

// Observe records the arrival of a batch of spans and moves the watermark to
// latest, the newest of their plausible end times (Unix nanoseconds; zero
// when none was plausible).
func (c *Clock) Observe(latest int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastArrival = c.opts.Wall()
	if latest <= 0 {
		return
	}
	t := time.Unix(0, latest).UTC()
	if t.After(c.watermark) {
		c.watermark = t
	}
	if c.now.IsZero() || c.watermark.After(c.now) {
		c.now = c.watermark
	}
}

// ObserveLogs records the arrival of a batch of trace-linked log records,
// the newest of whose plausible times is latest (Unix nanoseconds; zero when
// none was plausible).
func (c *Clock) ObserveLogs(latest int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastLogArrival = c.opts.Wall()
	if t := time.Unix(0, latest).UTC(); latest > 0 && t.After(c.logWatermark) {
		c.logWatermark = t
	}
}

// gridNowLocked is the time the grid may reach: the event time, held back
// to the latest log while logs flow, by at most LogWait.
func (c *Clock) gridNowLocked() time.Time {
	now := c.nowLocked()
	if c.opts.LogWait <= 0 || c.logWatermark.IsZero() || c.watermark.IsZero() ||
		c.opts.Wall().Sub(c.lastLogArrival) >= c.opts.IdleAfter {
		return now
	}
	t := c.logWatermark
	if floor := now.Add(-c.opts.LogWait); t.Before(floor) {
		t = floor
	}
	if t.After(now) {
		return now
	}
	return t
}

// Plausible reports whether a span end time may move the watermark, and why
// not: future or invalid.
func (c *Clock) Plausible(ts int64, wall time.Time) (ok, future bool) {
	if ts <= 0 {
		return false, false
	}
	if ts > wall.Add(c.opts.MaxSkew).UnixNano() {
		return false, true
	}
	return true, false
}

// Wall returns processing time.
func (c *Clock) Wall() time.Time { return c.opts.Wall() }

// Now returns the event time: the watermark, or, after IdleAfter without
// spans, the watermark plus the processing time since the last span.
// Before any span it is processing time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	wall := c.opts.Wall()
	if c.watermark.IsZero() {
		return wall
	}
	if idle := wall.Sub(c.lastArrival); idle >= c.opts.IdleAfter {
		if t := c.watermark.Add(idle); t.After(c.now) {
			c.now = t
		}
	}
	return c.now
}

// Due returns the grid points passed since the previous call, oldest first,
// appended to dst. Before any span it returns the current processing time
// as the only point when a grid step has passed.
func (c *Clock) Due(dst []time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.gridNowLocked()
	last := now.Truncate(c.opts.Step)
	if c.due.IsZero() || c.due.After(last) && !c.grounded {
		// First call, or the first span moved the clock back from processing
		// time to the recording's time: start the grid here.
		c.due = last
		c.grounded = !c.watermark.IsZero()
		return append(dst, last)
	}
	if c.due.After(last) {
		return dst // held back for the logs: the grid never runs backwards
	}
	n := int(last.Sub(c.due) / c.opts.Step)
	if n == 0 {
		return dst
	}
	first := c.due.Add(c.opts.Step)
	if n > c.opts.MaxCatchUp {
		first = last.Add(-time.Duration(c.opts.MaxCatchUp-1) * c.opts.Step)
	}
	for t := first; !t.After(last); t = t.Add(c.opts.Step) {
		dst = append(dst, t)
	}
	c.due = last
	return dst
}
