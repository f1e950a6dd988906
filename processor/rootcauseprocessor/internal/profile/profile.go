// Package profile learns what each part of a request usually takes (a
// service's own work in a visit, the time a call takes beyond its callee's
// span) and watches the recent window for a sustained change.
//
// Every part is learned at three levels: its own key, its service's (all
// visits of the service, all calls into the callee) and all parts of its
// kind, so that a low-rate operation or a fresh deployment borrows a
// reference until it has its own. Samples are learned only once they leave
// the recent window, and only from windows where the key did not shift:
// a fault never becomes the reference it is judged against.
package profile // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/profile"

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
)

const (
	relativeAccuracy = 0.01
	maxBins          = 512
	// buckets splits the window: a count covers between 11/12 and all of it.
	buckets = 12
	// shiftedShare: a key whose recent samples are mostly beyond its usual
	// latency has moved its median past its own tail: a sustained change,
	// which a stall of a few seconds or one slow request cannot make.
	shiftedShare = 0.5
	// minSustained is the samples a sustained change needs.
	minSustained = 3
	// minSustainedOperation is the samples a sustained change of one
	// operation judged alone needs: more than a service's, as a service has
	// many operations and each is one more chance of a chance shift.
	minSustainedOperation = 10
	// shiftedShareOperation is the share of an operation judged alone that
	// must be over its usual latency: nearly all, as a fault of the
	// operation slows nearly all of its requests while a drift slows some
	// (1 in 2 raised 2023-01-30's false incidents from 0.3 to 0.8 an hour).
	shiftedShareOperation = 0.9
	// sustainBuckets is the part of the window (half) a change must fill
	// mostly before it counts as sustained: its median then moved, which a
	// stall of a few seconds or a burst of slow requests cannot do.
	sustainBuckets = buckets / 2
)

// Options configures a Profile.
type Options struct {
	// Window is the recent window watched for a change (event time). Must be positive.
	Window time.Duration
	// Quantile of the reference a part's usual latency is. In (0, 1).
	Quantile float64
	// Multiplier and MinExcess: a part breaches when it takes more than its
	// usual latency times Multiplier and plus MinExcess.
	Multiplier float64
	MinExcess  time.Duration
	// MaxKeys bounds the parts learned; zero means no bound.
	MaxKeys int
	// HalfLife halves a reference's history every so many observations, so
	// that it follows slow drifts. Zero means never.
	HalfLife int
	// Saturation, when set, tells which services are at their CPU limit.
	Saturation *Saturation
}

// Profile is not safe for concurrent use.
type Profile struct {
	opts   Options
	keys   map[diagnosis.PartKey]*state
	out    map[string][]*state // caller → its call keys
	in     map[string][]*state // callee → call keys into it
	visits map[string][]*state // service → its visit keys
	width  int64               // bucket width, ns
	// last is the newest bucket observed: the end of the recent window.
	last int64
	// blame is the excess blamed on each service, by bucket.
	blame map[string]*serviceBlame
	// errors counts the failed traces each service is blamed for, by the
	// template of their error; errorKeys lists each service's templates.
	errors    map[errorKey]*counter
	errorKeys map[string][]logtemplate.ID
	// workedBefore is, for each service with errors, how many of its traces
	// had gone through it before its first error: 0 when it failed from
	// its first request the collector saw.
	workedBefore map[string]int
	// templates counts each template's failed traces over all services,
	// traffic the traces through each service, traces all of them: the
	// denominators of the error ratios and their prior.
	templates map[logtemplate.ID]*counter
	traffic   map[string]*counter
	traces    counter
	// operations counts the spans with logs of each operation,
	// patterns what is known of each log pattern of each operation.
	operations map[opKey]*opState
	patterns   map[patternKey]*patternState
	// observed counts the buckets in which traces were observed: the length
	// of the history (a recording may have gaps); seen are the latest of them.
	observed int64
	seen     [buckets]int64
	// rejected counts the parts of new keys refused because MaxKeys was reached.
	rejected bounded.Tally
	// sampler picks the samples a busy bucket holds (heldSamples), with a
	// fixed seed: a replay of the same telemetry learns the same.
	sampler *rand.Rand
}

type state struct {
	key    diagnosis.PartKey
	parent *state // the service level; nil at the top
	ref    *ddsketch.DDSketch
	refN   int
	usual  time.Duration // cached quantile of ref, 0 while refN < minReference
	median time.Duration // cached median of ref, 0 while refN < minLocation
	// shape, at the service and kind levels, holds the samples of the keys
	// below that have a location of their own, each divided by its key's
	// median: the tail their latencies share, whatever their scale.
	shape      *ddsketch.DDSketch
	shapeN     int
	shapeUsual float64 // cached quantile of shape, 0 while shapeN < minReference
	recent     [buckets]bucket
	// past holds the counts of the buckets that left the window, to judge
	// the window that ended with a bucket when it leaves.
	past [buckets]struct {
		idx     int64
		n, over int
	}
}

type blameBucket struct {
	idx    int64
	excess time.Duration
}

type serviceBlame struct {
	recent [buckets]blameBucket
	// peak is the most excess a window blamed on the service while it had
	// not shifted: the worst of its normal stalls and bursts.
	peak time.Duration
	// held are the totals of complete windows not yet known to be normal: a
	// change that starts inside a window is only seen as a shift up to half
	// a window later, so a window joins peak only once that much time has
	// passed without a shift (never learn from a window under suspicion).
	held [sustainBuckets + 1]blameBucket
	// shiftedAt is the latest bucket at whose end the service had shifted.
	shiftedAt int64
}

// roll closes the window ending at bucket end, whose total excess was
// total and whose service had shifted by then or not: it holds the window
// back and moves to peak the held windows that stayed clear of any shift
// for sustainBuckets after they ended.
func (bs *serviceBlame) roll(end int64, total time.Duration, shifted bool) {
	if shifted {
		bs.shiftedAt = end
	}
	for i := range bs.held {
		h := &bs.held[i]
		if h.idx == 0 || h.idx > end-sustainBuckets {
			continue
		}
		// A shift seen at or after the window's first bucket may have
		// started inside it.
		if bs.shiftedAt < h.idx-buckets+1 && h.excess > bs.peak {
			bs.peak = h.excess
		}
		*h = blameBucket{}
	}
	if total > 0 {
		bs.held[end%int64(len(bs.held))] = blameBucket{idx: end, excess: total}
	}
}

type bucket struct {
	idx     int64 // bucket number (event time / width)
	n, over int
	// learn holds the normal samples waiting to leave the window, each as
	// its bin in the references (see sampleBins), at most maxHeldSamples.
	learn heldSamples
}

// sampleBins encodes the samples a bucket holds until it leaves the window
// as the bin a reference would put them in: 2 bytes a sample instead of 8,
// for every part of every normal request over the window, the largest state
// the diagnosis keeps. A reference, whose bins are the same, learns exactly
// what it would from the sample; a tail shape learns the sample's ratio to
// its key's median within the references' relative accuracy.
var sampleBins, _ = mapping.NewLogarithmicMapping(relativeAccuracy)

// zeroBin stands for a sample too small for a bin: zero.
const zeroBin = math.MinInt16

func encodeSample(seconds float64) int16 {
	if seconds < sampleBins.MinIndexableValue() {
		return zeroBin
	}
	return int16(min(max(sampleBins.Index(seconds), zeroBin+1), math.MaxInt16))
}

func decodeSample(bin int16) float64 {
	if bin == zeroBin {
		return 0
	}
	return sampleBins.Value(int(bin))
}

// New returns an empty profile.
func New(opts Options) *Profile {
	w := int64(opts.Window) / buckets
	if w <= 0 {
		w = 1
	}
	return &Profile{
		opts: opts, width: w,
		keys:         map[diagnosis.PartKey]*state{},
		out:          map[string][]*state{},
		in:           map[string][]*state{},
		visits:       map[string][]*state{},
		blame:        map[string]*serviceBlame{},
		errors:       map[errorKey]*counter{},
		errorKeys:    map[string][]logtemplate.ID{},
		workedBefore: map[string]int{},
		templates:    map[logtemplate.ID]*counter{},
		traffic:      map[string]*counter{},

		operations: map[opKey]*opState{},
		patterns:   map[patternKey]*patternState{},
		sampler:    rand.New(rand.NewPCG(1, 2)),
	}
}

// levels of a key: its own, its service's, its kind's.
func levels(k diagnosis.PartKey) [3]diagnosis.PartKey {
	svc := k
	svc.Operation = ""
	if k.Kind == diagnosis.PartCall {
		svc.Service = "" // all calls into the callee
	}
	return [3]diagnosis.PartKey{k, svc, {Kind: k.Kind}}
}

func (p *Profile) state(k diagnosis.PartKey) *state {
	if s := p.keys[k]; s != nil {
		return s
	}
	if p.opts.MaxKeys > 0 && len(p.keys) >= p.opts.MaxKeys {
		p.rejected.Add(1)
		return nil
	}
	var parent *state
	lv := levels(k)
	switch k {
	case lv[2]:
	case lv[1]:
		parent = p.state(lv[2])
	default:
		parent = p.state(lv[1])
	}
	s := &state{key: k, parent: parent}
	p.keys[k] = s
	switch {
	case k.Operation == "":
	case k.Kind == diagnosis.PartCall:
		p.out[k.Service] = append(p.out[k.Service], s)
		p.in[k.Peer] = append(p.in[k.Peer], s)
	case k.Kind == diagnosis.PartVisit:
		p.visits[k.Service] = append(p.visits[k.Service], s)
	}
	return s
}

// Observe records the parts of a decided trace that ended at event time at,
// and the excess it blames on services. Parts of anomalous traces count in
// the recent window but are never learned.
func (p *Profile) Observe(at time.Time, parts []diagnosis.Part, blames []diagnosis.Blame, anomalous bool) {
	idx := p.at(at)
	for _, bl := range blames {
		bs := p.blame[bl.Service]
		if bs == nil {
			if p.opts.MaxKeys > 0 && len(p.blame) >= p.opts.MaxKeys {
				p.rejected.Add(1)
				continue
			}
			bs = &serviceBlame{}
			p.blame[bl.Service] = bs
		}
		b := &bs.recent[idx%buckets]
		switch {
		case b.idx == idx:
		case b.idx > idx:
			continue // older than the window
		default:
			// The window that ends before this bucket is complete: if the
			// service does not shift in it or soon after, it was normal,
			// however much excess its stalls showed.
			bs.roll(idx-1, bs.window(idx-1), p.shiftedAt(bl.Service, idx-1))
			b.idx, b.excess = idx, 0
		}
		b.excess += bl.Excess
	}
	for i := range parts {
		part := &parts[i]
		s := p.state(part.Key)
		if s == nil {
			continue
		}
		usual, known := p.usual(s)
		over := known && part.Value > usual
		for lv := s; lv != nil; lv = lv.parent {
			b := lv.bucket(idx, p)
			if b == nil {
				continue // older than the window
			}
			b.n++
			if over {
				b.over++
			}
			if !anomalous {
				b.learn.add(encodeSample(part.Value.Seconds()), p.sampler)
			}
		}
	}
}

// bucket returns the bucket of idx, rolling out (and learning) what left the
// window; nil when idx is older than the window.
func (s *state) bucket(idx int64, p *Profile) *bucket {
	b := &s.recent[idx%buckets]
	switch {
	case b.idx == idx:
		return b
	case b.idx > idx:
		return nil
	}
	s.retire(b, p)
	b.idx, b.n, b.over = idx, 0, 0
	return b
}

// retire learns a bucket that leaves the window, unless its key had shifted
// in it: in the window that ends with it, in the window that starts with it
// (the first and the last minute of a fault), or in the bucket alone. Its
// samples then belong to an incident, not to the reference.
func (s *state) retire(b *bucket, p *Profile) {
	if b.learn.seen == 0 {
		return
	}
	s.past[b.idx%buckets] = struct {
		idx     int64
		n, over int
	}{b.idx, b.n, b.over}
	isShifted := func(n, over int) bool { return n >= minSustained && float64(over) >= shiftedShare*float64(n) }
	shifted := isShifted(b.n, b.over) || isShifted(s.window(b.idx+buckets-1)) || isShifted(s.history(b.idx))
	if !shifted {
		if s.ref == nil {
			s.ref, _ = ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
		}
		leaf := s.key.Operation != ""
		for bin, count := range b.learn.each {
			v := decodeSample(bin)
			if leaf && s.median > 0 {
				for lv := s.parent; lv != nil; lv = lv.parent {
					lv.learnShape(v/s.median.Seconds(), count, p)
				}
			}
			_ = s.ref.AddWithCount(v, float64(count))
			if k := p.halvings(&s.refN, count); k > 0 {
				_ = s.ref.Reweight(math.Pow(0.5, float64(k)))
			}
		}
		// Below minReference the quantile is about the largest sample:
		// not a reference yet, but a floor for the borrowed one.
		s.usual = 0
		if q, err := s.ref.GetValueAtQuantile(p.opts.Quantile); err == nil {
			s.usual = time.Duration(q * float64(time.Second))
		}
		s.median = 0
		if q, err := s.ref.GetValueAtQuantile(0.5); err == nil && s.refN >= minLocation {
			s.median = time.Duration(q * float64(time.Second))
		}
		for lv := s.parent; leaf && lv != nil && lv.shape != nil; lv = lv.parent {
			lv.shapeUsual = 0
			if q, err := lv.shape.GetValueAtQuantile(p.opts.Quantile); err == nil && lv.shapeN >= p.minReference() {
				lv.shapeUsual = q
			}
		}
	}
	b.learn.reset()
}

// learnShape adds count samples, as a multiple of its key's median, to the
// tail shape the keys below s share.
func (s *state) learnShape(ratio float64, count int, p *Profile) {
	if s.shape == nil {
		s.shape, _ = ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
	}
	_ = s.shape.AddWithCount(ratio, float64(count))
	if k := p.halvings(&s.shapeN, count); k > 0 {
		_ = s.shape.Reweight(math.Pow(0.5, float64(k)))
	}
}

// halvings adds count to the observations *n of a reference and returns
// how many multiples of HalfLife they passed: how many times to halve its
// history (once at most while samples come one at a time).
func (p *Profile) halvings(n *int, count int) int {
	before := *n
	*n += count
	if p.opts.HalfLife <= 0 {
		return 0
	}
	return *n/p.opts.HalfLife - before/p.opts.HalfLife
}

// minReference is the observations a reference needs before its quantile
// q is used: 1/(1-q), enough for one of them to lie beyond it (100 for the
// p99). Until then the part borrows its service's or its kind's.
func (p *Profile) minReference() int {
	return max(5, int(1/(1-p.opts.Quantile)+0.5))
}

// minLocation is the observations a key needs before its own median places
// it: the middle of 9 samples lies between the population's quartiles with
// probability 0.9, while its p99 needs minReference.
const minLocation = 9

// usual is the first level of s with a reference. A key with a location of
// its own but too few samples for its tail borrows the tail's shape (the
// quantile as a multiple of the median) from its service or its kind: a
// low-rate operation's median is known long before its p99, and its peers'
// latencies spread alike, whatever their scale. Failing that it borrows
// the reference itself. A part never counts as slower than usual for taking
// what its own short history already shows: the borrowed reference is
// raised to the highest sample of the levels below it.
func (p *Profile) usual(s *state) (time.Duration, bool) {
	if s.refN < p.minReference() && s.median > 0 {
		for lv := s.parent; lv != nil; lv = lv.parent {
			if lv.shapeUsual > 0 {
				return max(time.Duration(float64(s.median)*lv.shapeUsual), s.usual), true
			}
		}
	}
	var floor time.Duration
	for lv := s; lv != nil; lv = lv.parent {
		if lv.refN >= p.minReference() && lv.usual > 0 {
			return max(lv.usual, floor), true
		}
		if lv.refN > 0 {
			floor = max(floor, lv.usual)
		}
	}
	return 0, false
}

// Usual implements diagnosis.Reference.
func (p *Profile) Usual(k diagnosis.PartKey) (time.Duration, bool) {
	if s := p.keys[k]; s != nil {
		return p.usual(s)
	}
	lv := levels(k)
	for _, lk := range lv[1:] {
		if s := p.keys[lk]; s != nil {
			return p.usual(s)
		}
	}
	return 0, false
}

// Breached implements diagnosis.Reference.
func (p *Profile) Breached(k diagnosis.PartKey, v time.Duration) bool {
	usual, ok := p.Usual(k)
	if !ok {
		return false
	}
	return v > time.Duration(float64(usual)*p.opts.Multiplier) && v > usual+p.opts.MinExcess
}

// recentShare sums the recent window of the keys, skipping those of peer.
func (p *Profile) recentShare(keys []*state, skip func(*state) bool, now int64) (float64, bool) {
	n, over := 0, 0
	for _, s := range keys {
		if skip(s) {
			continue
		}
		kn, ko := s.window(now)
		n += kn
		over += ko
	}
	if n == 0 {
		return 0, false
	}
	return float64(over) / float64(n), true
}

// history counts the samples of the retired buckets within the window
// ending at bucket now.
func (s *state) history(now int64) (n, over int) {
	for i := range s.past {
		if b := &s.past[i]; b.idx > now-buckets && b.idx <= now {
			n += b.n
			over += b.over
		}
	}
	return n, over
}

// window counts the samples of s within the window ending at bucket now.
func (s *state) window(now int64) (n, over int) { return s.span(now, buckets) }

// span counts the samples of s within the k buckets ending at bucket now.
func (s *state) span(now int64, k int64) (n, over int) {
	for i := range s.recent {
		if b := &s.recent[i]; b.idx > now-k && b.idx <= now {
			n += b.n
			over += b.over
		}
	}
	return n, over
}

// CallerSlow implements diagnosis.Reference.
func (p *Profile) CallerSlow(caller, callee string) (float64, bool) {
	return p.recentShare(p.out[caller], func(s *state) bool { return s.key.Peer == callee }, p.last)
}

// CalleeSlow implements diagnosis.Reference.
func (p *Profile) CalleeSlow(caller, callee string) (float64, bool) {
	return p.recentShare(p.in[callee], func(s *state) bool { return s.key.Service == caller }, p.last)
}

func (p *Profile) shiftedAt(service string, idx int64) bool {
	shifted, _ := p.shift(service, idx)
	return shifted
}

// shift reports whether a part of service shifted over the half window
// ending at idx, and whether any part of it could be judged at all.
func (p *Profile) shift(service string, idx int64) (shifted, judged bool) {
	// Judged at the service level (all its visits, all calls into it, all
	// its calls out), then for its low-rate operations (below).
	var groups [][]*state
	for _, k := range []diagnosis.PartKey{
		{Kind: diagnosis.PartVisit, Service: service},
		{Kind: diagnosis.PartCall, Peer: service},
	} {
		if s := p.keys[k]; s != nil {
			groups = append(groups, []*state{s})
		}
	}
	if out := p.out[service]; len(out) > 0 {
		groups = append(groups, out)
	}
	for _, g := range groups {
		sh, j := p.groupShifted(g, idx, minSustained, shiftedShare)
		judged = judged || j
		if sh {
			return true, true
		}
	}
	// An operation with a minority of its service's samples is judged alone
	// too: however slow, it cannot bring shiftedShare of the service's
	// samples past their usual latency while the service's other operations
	// are busier (a fault of a low-rate operation of a busy service). It
	// needs a reference of its own (a borrowed one cannot make a change
	// alone) and minSustainedOperation samples.
	visits := p.keys[diagnosis.PartKey{Kind: diagnosis.PartVisit, Service: service}]
	if visits == nil {
		return false, judged
	}
	all, _ := visits.window(idx)
	for _, s := range p.visits[service] {
		if n, _ := s.window(idx); s.refN < p.minReference() || float64(n) >= shiftedShare*float64(all) {
			continue
		}
		if sh, _ := p.groupShifted([]*state{s}, idx, minSustainedOperation, shiftedShareOperation); sh {
			return true, true
		}
	}
	return false, judged
}

// groupShifted: most of the recent samples of keys took longer than usual,
// over the last half window, or, for a low-rate group, over the shortest
// span ending now (up to the whole window) that holds minSustained samples.
func (p *Profile) groupShifted(keys []*state, idx int64, need int, share float64) (shifted, judged bool) {
	var judgedKeys []*state
	for _, s := range keys {
		if _, ok := p.usual(s); ok {
			judgedKeys = append(judgedKeys, s)
		}
	}
	if len(judgedKeys) == 0 {
		return false, false
	}
	for k := int64(sustainBuckets); k <= buckets; k++ {
		n, over := 0, 0
		for _, s := range judgedKeys {
			kn, ko := s.span(idx, k)
			n, over = n+kn, over+ko
		}
		if n >= need {
			return float64(over) >= share*float64(n), true
		}
	}
	return false, true
}

// at is the bucket of event time t, which extends the observed history.
func (p *Profile) at(t time.Time) int64 {
	idx := t.UnixNano() / p.width
	if idx > p.last {
		p.last = idx
		p.observed++
		p.seen[idx%buckets] = idx
	}
	return idx
}

// Changed is the incident store's publication gate: the service's errors
// surge beyond its usual rate, or its latency shifted for a sustained time
// and by more than any of its normal windows (an incident is more than what
// the service does when nothing is wrong). Either change counts, whatever
// the incident's kind: a fault that slows a service with chronic errors is
// still a change; so is a service at its CPU limit whose window blames it for
// more than its normal ones. With no latency reference yet (the first window
// of a deployment), latency is not held back, unless the service is failing
// at its usual rate: chronic errors are not a change, and without a latency
// reference nothing else says one happened.
func (p *Profile) Changed(service string, now time.Time) bool {
	idx := min(now.UnixNano()/p.width, p.last)
	surging, failing := p.errorChange(service, idx)
	if surging {
		return true
	}
	shifted, judged := p.shift(service, idx)
	// A service at its CPU limit needs no shift of its median to explain
	// slow requests: its saturation says why (a low-rate service moves too
	// few samples to shift within a window).
	saturated := p.Saturated(service)
	shifted = shifted || saturated
	if !judged {
		return !failing || saturated
	}
	return shifted && p.beyondPeak(service, idx)
}

// Saturated implements diagnosis.Reference: the service reported its CPU at
// its limit within a window of the newest trace.
func (p *Profile) Saturated(service string) bool {
	return p.opts.Saturation.Saturated(service, time.Unix(0, (p.last+1)*p.width), p.opts.Window)
}

// Utilization is the share of its CPU limit the service reported within a
// window of the newest trace; false when it reported none.
func (p *Profile) Utilization(service string) (float64, bool) {
	return p.opts.Saturation.Utilization(service, time.Unix(0, (p.last+1)*p.width), p.opts.Window)
}

// RecentBlame implements diagnosis.Reference.
func (p *Profile) RecentBlame(service string) time.Duration {
	bs := p.blame[service]
	if bs == nil {
		return 0
	}
	return bs.window(p.last)
}

// window sums the excess blamed within the window ending at bucket now.
func (bs *serviceBlame) window(now int64) time.Duration {
	var total time.Duration
	for i := range bs.recent {
		if b := &bs.recent[i]; b.idx > now-buckets && b.idx <= now {
			total += b.excess
		}
	}
	return total
}

// beyondPeak: the recent window blames the service for more excess than
// any window of its normal history did.
func (p *Profile) beyondPeak(service string, now int64) bool {
	bs := p.blame[service]
	if bs == nil {
		return false
	}
	return bs.window(now) > bs.peak
}

// TakeRejected returns, and resets, the observations refused because
// MaxKeys was reached.
func (p *Profile) TakeRejected() int64 { return p.rejected.Take() }
