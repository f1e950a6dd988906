// Package baseline learns what is normal: streaming quantile sketches of span
// latency per service and operation.
package baseline // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/baseline"

import (
	"math"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

const (
	relativeAccuracy = 0.01
	maxBins          = 1024
	typicalQuantile  = 0.5
	// typicalWarmup is the observations a median needs: unlike a tail
	// quantile, which needs about 1/(1-q) observations per sample beyond it,
	// a median is within about half a standard deviation after five, far
	// less than the excess of a fault worth blaming.
	typicalWarmup = 5
)

// Options configures the learned objectives.
type Options struct {
	// Quantile is the learned quantile a server span's latency is compared with, in (0, 1).
	Quantile float64
	// Multiplier: a server span breaches when its latency exceeds Quantile's value times Multiplier...
	Multiplier float64
	// MinExcess ...and exceeds it by at least MinExcess. Zero means no minimum.
	MinExcess time.Duration
	// Warmup is the number of observations a key needs before it is used. Zero means one.
	Warmup int
	// MaxKeys bounds the number of service/operation pairs learned: a new
	// pair beyond it takes the place of the pair observed least recently.
	// Zero means no bound.
	MaxKeys int
	// HalfLife is the number of observations after which a key's history is halved, so the
	// baseline follows slow drifts. Zero means never.
	HalfLife int
}

// Key identifies one operation of one service.
type Key struct {
	Service   string
	Operation string
}

type entry struct {
	duration  *ddsketch.DDSketch // whole span duration, for latency objectives
	exclusive *ddsketch.DDSketch // exclusive (self) time, for culprit attribution
	n         int
}

// Baselines holds the sketches. It is not safe for concurrent use.
type Baselines struct {
	opts Options
	// entries are kept least recently observed first: a table that is full
	// forgets an operation that no longer has traffic (renamed, retired, or
	// a made-up name) rather than refuse every new one.
	entries *simplelru.LRU[Key, *entry]
	// forgotten counts the keys forgotten to make room for new ones.
	forgotten bounded.Tally
}

// New returns empty baselines.
func New(opts Options) *Baselines {
	if opts.Warmup < 1 {
		opts.Warmup = 1
	}
	size := opts.MaxKeys
	if size <= 0 {
		size = math.MaxInt
	}
	b := &Baselines{opts: opts}
	entries, err := simplelru.NewLRU(size, func(Key, *entry) { b.forgotten.Add(1) })
	if err != nil {
		panic(err) // size is positive
	}
	b.entries = entries
	return b
}

// TakeForgotten returns, and resets, the keys forgotten because MaxKeys was
// reached.
func (b *Baselines) TakeForgotten() int64 { return b.forgotten.Take() }

// Observe records one span of a trace judged normal. Anomalous traces must not
// be observed: a baseline dragged along by the fault it should detect would
// stop detecting it.
func (b *Baselines) Observe(k Key, duration, exclusive time.Duration) {
	e, ok := b.entries.Get(k)
	if !ok {
		e = &entry{duration: newSketch(), exclusive: newSketch()}
		b.entries.Add(k, e)
	}
	// Errors only come from negative or NaN values, which durations are not.
	_ = e.duration.Add(max(0, duration.Seconds()))
	_ = e.exclusive.Add(max(0, exclusive.Seconds()))
	e.n++
	if b.opts.HalfLife > 0 && e.n%b.opts.HalfLife == 0 {
		_ = e.duration.Reweight(0.5)
		_ = e.exclusive.Reweight(0.5)
	}
}

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
	if err != nil {
		panic(err) // constant, valid arguments
	}
	return s
}

func (b *Baselines) warm(k Key) *entry {
	// A lookup does not make a key recent: only normal traffic keeps it.
	e, ok := b.entries.Peek(k)
	if !ok || e.n < b.opts.Warmup {
		return nil
	}
	return e
}

// Threshold returns the latency above which a span of k breaches its learned
// objective; false while k is unknown or warming up.
func (b *Baselines) Threshold(k Key) (time.Duration, bool) {
	e := b.warm(k)
	if e == nil {
		return 0, false
	}
	q, err := e.duration.GetValueAtQuantile(b.opts.Quantile)
	if err != nil {
		return 0, false
	}
	base := seconds(q)
	mult := b.opts.Multiplier
	if mult < 1 {
		mult = 1
	}
	return max(time.Duration(float64(base)*mult), base+b.opts.MinExcess), true
}

// Typical returns the median exclusive time of k; false while k is unknown or warming up.
func (b *Baselines) Typical(k Key) (time.Duration, bool) {
	e, ok := b.entries.Peek(k)
	if !ok || e.n < min(typicalWarmup, b.opts.Warmup) {
		return 0, false
	}
	q, err := e.exclusive.GetValueAtQuantile(typicalQuantile)
	if err != nil {
		return 0, false
	}
	return seconds(q), true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Saved is one learned operation as it outlives the process: its sketches
// in DDSketch's binary encoding (this package's mapping, not repeated).
type Saved struct {
	Service, Operation  string
	N                   int
	Duration, Exclusive []byte
}

// Save returns every learned operation, least recently observed first, for
// Restore in the next run.
func (b *Baselines) Save() []Saved {
	out := make([]Saved, 0, b.entries.Len())
	for _, k := range b.entries.Keys() {
		e, _ := b.entries.Peek(k)
		s := Saved{Service: k.Service, Operation: k.Operation, N: e.n}
		e.duration.Encode(&s.Duration, true)
		e.exclusive.Encode(&s.Exclusive, true)
		out = append(out, s)
	}
	return out
}

// Restore learns what an earlier run saved, so that a restarted collector
// judges spans at once instead of warming up again, and a restart during a
// fault does not learn the fault as normal. Saved in Save's order, the
// operations keep their recency; beyond MaxKeys the least recent are
// forgotten. Operations known already or whose sketches do not decode are
// skipped; it returns how many were restored.
func (b *Baselines) Restore(saved []Saved) int {
	n := 0
	for _, s := range saved {
		k := Key{Service: s.Service, Operation: s.Operation}
		if b.entries.Contains(k) || s.N <= 0 {
			continue
		}
		e := &entry{duration: newSketch(), exclusive: newSketch(), n: s.N}
		if e.duration.DecodeAndMergeWith(s.Duration) != nil || e.exclusive.DecodeAndMergeWith(s.Exclusive) != nil ||
			e.duration.IsEmpty() || e.exclusive.IsEmpty() {
			continue
		}
		b.entries.Add(k, e)
		n++
	}
	return n
}
