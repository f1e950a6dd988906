// Package simulate is the scenario engine: traffic on the scenario clock, the
// call-graph walk of every request with pools, timeouts, retries and faults,
// and the telemetry (pdata) an instrumented system would export for it.
//
// The engine has no clock and no goroutines: Advance(now) moves it to now and
// returns what became due, so tests and benchmarks step it deterministically.
package simulate // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"

import (
	"container/heap"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

// Options configure an Engine.
type Options struct {
	// Seed makes the run deterministic.
	Seed int64
	// Start is the real (wall-clock) time of the scenario start.
	Start time.Time
	// StartAt is the scenario clock's time of day at Start, e.g. 13h59m30s.
	StartAt time.Duration
	// TimeScale is scenario seconds per real second. Zero means 1.
	TimeScale float64
	// Rate overrides the scenario's base rate, in requests per real second. Zero keeps it.
	Rate float64
	// MetricsInterval is the real time between metric exports. Zero means 10s.
	MetricsInterval time.Duration
	// Duration stops new requests after this real time. Zero means never.
	Duration time.Duration
	// FaultSchedule, when set, replaces the windows of every fault.
	FaultSchedule []model.Window
	// MaxCatchUp bounds how much traffic Advance generates after a long gap
	// (a paused process): arrivals older than this before now are skipped.
	// Zero means no bound, for deterministic stepping.
	MaxCatchUp time.Duration
	// MaxSampleTraces bounds the trace IDs in a ground truth record. Zero means 10.
	MaxSampleTraces int
}

// GroundTruth is one fault window as it really happened. It never appears in the telemetry.
type GroundTruth struct {
	Scenario         string    `json:"scenario"`
	Fault            string    `json:"fault"`
	Kind             string    `json:"kind"`
	CulpritService   string    `json:"culprit_service"`
	CulpritOperation string    `json:"culprit_operation"`
	Dependency       string    `json:"dependency,omitempty"`
	Start            time.Time `json:"start"`
	End              time.Time `json:"end"`
	SampleTraceIDs   []string  `json:"sample_trace_ids"`
}

// Stats count what an Output holds.
type Stats struct {
	Requests     int
	Spans        int
	LogRecords   int
	DataPoints   int
	FaultWindows int
	// SkippedRequests estimates the requests not generated because of MaxCatchUp.
	SkippedRequests int
}

// Output is the telemetry that became due in one Advance.
type Output struct {
	Traces  ptrace.Traces
	Logs    plog.Logs
	Metrics pmetric.Metrics
	Truth   []GroundTruth
	Stats   Stats
}

type fault struct {
	m            *model.Fault
	kind         string
	lat          dist
	errRate      float64
	status       int
	msg          string
	hold         int64
	hang         bool
	excType      string       // the exception thrown (exception faults)
	windows      *windowCache // for the walk, at simulated times
	truthWindows *windowCache // for the ground truth, at Advance times
	truth        GroundTruth
	// The current ground-truth occurrence, in real offsets from Start.
	curA, curB int64
	curSB      time.Duration // curB on the scenario clock
	curOK      bool
	samples    []string
	lastSample [16]byte
}

// Engine simulates one scenario.
type Engine struct {
	c       *compiled
	opts    Options
	rng     *rand.Rand
	scale   float64
	rate    float64
	ampl    float64
	peakAt  float64 // seconds since midnight
	start   int64   // Start in Unix nanoseconds
	nextArr int64   // next arrival, real offset
	stopAt  int64
	pending reqHeap
	free    []*request
	nextMet int64
	metInt  int64
	now     int64
	em      emitter
}

// New compiles a validated scenario into an engine.
func New(sc *model.Scenario, opts Options) (*Engine, error) {
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.TimeScale < 0 || opts.Rate < 0 {
		return nil, errors.New("time scale and rate must not be negative")
	}
	if opts.MetricsInterval <= 0 {
		opts.MetricsInterval = 10 * time.Second
	}
	if opts.MaxSampleTraces <= 0 {
		opts.MaxSampleTraces = 10
	}
	c, err := compile(sc, opts.FaultSchedule)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		c: c, opts: opts, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x5ce4a210)), scale: opts.TimeScale,
		rate: sc.Traffic.Rate, start: opts.Start.UnixNano(), stopAt: math.MaxInt64, metInt: int64(opts.MetricsInterval),
	}
	if opts.Rate > 0 {
		e.rate = opts.Rate
	}
	if d := sc.Traffic.Diurnal; d != nil {
		e.ampl = d.Amplitude
		p, _ := model.ParseTimeOfDay(d.Peak)
		e.peakAt = p.Seconds()
	}
	if opts.Duration > 0 {
		e.stopAt = int64(opts.Duration)
	}
	for _, pk := range c.peaks {
		pk.w.startAt = opts.StartAt
	}
	for _, f := range c.faults {
		f.windows.startAt = opts.StartAt
		f.truthWindows.startAt = opts.StartAt
		f.nextOccurrence(0, e.scale)
	}
	e.nextMet = e.metInt
	e.nextArr = e.interArrival(0)
	e.em.init(e)
	return e, nil
}

// scen converts a real offset from Start into scenario time since start.
func (e *Engine) scen(t int64) time.Duration { return time.Duration(float64(t) * e.scale) }

// RateAt returns the request rate (per real second) at a real offset from Start.
func (e *Engine) RateAt(t time.Duration) float64 {
	s := e.scen(int64(t))
	r := e.rate
	if e.ampl > 0 {
		tod := math.Mod((e.opts.StartAt + s).Seconds(), 86400)
		r *= 1 + e.ampl*math.Cos(2*math.Pi*(tod-e.peakAt)/86400)
	}
	for _, pk := range e.c.peaks {
		if pk.w.active(s) {
			r *= pk.factor
		}
	}
	return r
}

func (e *Engine) interArrival(t int64) int64 {
	r := e.RateAt(time.Duration(t))
	if r <= 0 {
		// No traffic: look again a little later on the scenario clock.
		return t + int64(time.Second)
	}
	return t + int64(e.rng.ExpFloat64()/r*1e9)
}

// nextOccurrence moves the ground-truth window to the first occurrence ending
// after scenario time s. It works on scenario time so that converting to real
// time and back cannot find the same occurrence again.
func (f *fault) nextOccurrence(s time.Duration, scale float64) {
	a, b, ok := f.truthWindows.next(s)
	f.curOK, f.curSB = ok, b
	f.curA, f.curB = int64(float64(a)/scale), int64(float64(b)/scale)
	f.samples = nil
	f.lastSample = [16]byte{}
}

// Advance simulates every request arriving up to now and returns the
// telemetry due by now: traces and logs of requests that ended, metrics when an
// export interval elapsed, and ground truth of windows that closed.
func (e *Engine) Advance(now time.Time) Output {
	t := now.UnixNano() - e.start
	if t < e.now {
		t = e.now
	}
	e.now = t
	skipped := 0
	if c := int64(e.opts.MaxCatchUp); c > 0 && e.nextArr < t-c {
		skipped = int(float64(t-c-e.nextArr) / 1e9 * e.RateAt(time.Duration(e.nextArr)))
		e.nextArr = t - c
	}
	for e.nextArr <= t && e.nextArr < e.stopAt {
		e.simulate(e.nextArr)
		e.nextArr = e.interArrival(e.nextArr)
	}
	e.em.begin()
	for len(e.pending) > 0 && e.pending[0].end <= t {
		r := heap.Pop(&e.pending).(*request)
		e.em.request(r)
		e.release(r)
	}
	out := Output{}
	out.Traces, out.Logs, out.Stats = e.em.finish()
	out.Metrics = pmetric.NewMetrics()
	for e.nextMet <= t {
		out.Stats.DataPoints += e.em.metrics(out.Metrics, e.nextMet)
		e.nextMet += e.metInt
	}
	for _, f := range e.c.faults {
		for f.curOK && f.curB <= t {
			out.Truth = append(out.Truth, e.truthRecord(f, f.curB))
			f.nextOccurrence(f.curSB, e.scale)
		}
	}
	out.Stats.FaultWindows = len(out.Truth)
	out.Stats.SkippedRequests = skipped
	return out
}

// Flush closes the fault windows open at now, for a shutdown.
func (e *Engine) Flush(now time.Time) []GroundTruth {
	t := now.UnixNano() - e.start
	var out []GroundTruth
	for _, f := range e.c.faults {
		if f.curOK && f.curA < t {
			out = append(out, e.truthRecord(f, min(t, f.curB)))
			f.curOK = false
		}
	}
	return out
}

func (e *Engine) truthRecord(f *fault, end int64) GroundTruth {
	g := f.truth
	g.Start = time.Unix(0, e.start+max(f.curA, 0)).UTC()
	g.End = time.Unix(0, e.start+end).UTC()
	g.SampleTraceIDs = append([]string{}, f.samples...)
	return g
}

// affected records a trace hit by an active fault.
func (e *Engine) affected(f *fault, r *request, t int64) {
	if len(f.samples) >= e.opts.MaxSampleTraces || f.lastSample == r.traceID || t < f.curA || t >= f.curB {
		return
	}
	f.lastSample = r.traceID
	f.samples = append(f.samples, hex.EncodeToString(r.traceID[:]))
}

// Pending returns the number of simulated requests not yet emitted.
func (e *Engine) Pending() int { return len(e.pending) }

type reqHeap []*request

func (h reqHeap) Len() int           { return len(h) }
func (h reqHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h reqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *reqHeap) Push(x any)        { *h = append(*h, x.(*request)) }
func (h *reqHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
