// Package incident aggregates anomalous traces with the same culprit into
// incidents that open, update and resolve. The Store is the only state the
// processor shares across traces, metrics and logs; it is safe for concurrent use.
package incident // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
)

// Status is the state an incident record reports.
type Status string

const (
	// StatusPending is an incident not published yet: too few anomalous
	// traces, or too small a share of its culprit's traffic, to be more than
	// background noise. It is never emitted.
	StatusPending  Status = "pending"
	StatusOpen     Status = "open"
	StatusUpdate   Status = "update"
	StatusResolved Status = "resolved"
)

// A name is a suspect of a trace when its score there is at least this.
const suspectScore = 0.3

// minCandidateScore: a candidate scored below it is not listed. Its score
// shows as 0.00: the traces that name it are few, or most of its own traffic
// is normal, and listing it would fill the ranking with names, not evidence.
const minCandidateScore = 0.005

// evidenceWords say what each diagnosis.Evidence bit counts, lowest first.
var evidenceWords = [diagnosis.EvidenceKinds]string{"started the failure or delay", "failed", "slower than usual", "at its CPU limit"}

// evidenceSeen is the union of the evidence of its traces.
func (sp *suspect) evidenceSeen() diagnosis.Evidence {
	var ev diagnosis.Evidence
	for k, n := range sp.evidence {
		if n > 0 {
			ev |= 1 << k
		}
	}
	return ev
}

// describe names the evidence against a candidate, with its counts:
// "started the failure or delay in 12 of 14 traces, failed in 2".
func (sp *suspect) describe(traces int) string {
	var b strings.Builder
	for k, n := range sp.evidence {
		if n == 0 {
			continue
		}
		if b.Len() == 0 {
			fmt.Fprintf(&b, "%s in %d of %d traces", evidenceWords[k], n, traces)
		} else {
			fmt.Fprintf(&b, ", %s in %d", evidenceWords[k], n)
		}
	}
	return b.String()
}

// Options configures the Store.
type Options struct {
	// Window groups anomalous traces with the same culprit: a trace joins an
	// open incident when it starts at most Window after the incident's last
	// trace. New incidents take their ID from their first trace's start time
	// truncated to Window. Must be positive.
	Window time.Duration
	// ResolveAfter resolves an incident that received no trace for this
	// long (processing time), or whose culprit has been back to normal (the
	// Changed test no longer holds) for this long: a service with a few
	// chronic errors keeps sending anomalous traces after a fault ends.
	ResolveAfter time.Duration
	// UpdateInterval is the minimum time between two update events of an incident.
	UpdateInterval time.Duration
	// MaxIncidents bounds the incidents kept, open or resolved; resolved ones are forgotten first.
	// Zero means 1000.
	MaxIncidents int
	// MaxSamples bounds the sample trace and span IDs and the evidence messages per incident.
	// The first half of the samples are the incident's first traces, the rest
	// its latest ones, so that every record shows recent traces. Zero means 10.
	MaxSamples int
	// MaxTraceIndex bounds the trace IDs remembered so that a trace recorded
	// twice counts once. Zero means 100000.
	MaxTraceIndex int
	// MinTraces is the number of anomalous traces within the last Window an
	// incident needs before it is published. Zero means 1. One is enough
	// when a trace of the window blamed the culprit with the evidence of its
	// CPU at its limit (diagnosis.EvidenceSaturated): the slow traces
	// MinTraces asks for are witnesses that the slowness is no jitter, and
	// the CPU report is one that does not come from the traces.
	MinTraces int
	// MinShare is the share of the traces through the culprit service within
	// the last Window that must be anomalous (with this culprit) before the
	// incident is published, so that a service's usual rate of errors and
	// slow requests never opens one. In [0, 1]; zero disables the check.
	MinShare float64
	// MaxServices bounds the services whose traffic is counted. Zero means 10000.
	MaxServices int
	// MaxNewServiceIncidents bounds the incidents published within a Window
	// whose culprit has never been seen in a normal trace: a deployment
	// brings a few new services at a time, and they mostly work, while a
	// client that makes up service names can make up thousands, each
	// failing from its first request, and would crowd the incident list,
	// the alerts and the metrics series. The others wait, unpublished,
	// until the budget allows or their service is seen working. Zero means 10.
	MaxNewServiceIncidents int
	// Judged, when set, tells whether a culprit's change can be judged at
	// now: false for a service failing since the collector started, while
	// the history is too short to tell a change from what it always does.
	// An incident published then is a standing condition until Judged and
	// Changed both hold. Nil: always judged.
	Judged func(service string, now time.Time) bool
	// Changed, when set, must also hold before an incident is published:
	// its culprit has changed at event time now, against its own history
	// (errors beyond its usual rate, latency shifted for a sustained time),
	// not only shown its usual errors and stalls.
	Changed func(service string, now time.Time) bool
}

// Candidate is a suspect of an incident with its score and the evidence
// against it, in words: "started the failure or delay in 12 of 14 traces,
// failed in 2".
type Candidate struct {
	diagnosis.Candidate
	Evidence string
}

// Observation is one diagnosed anomalous trace.
type Observation struct {
	TraceID          pcommon.TraceID
	CulpritSpanID    pcommon.SpanID
	Start, End       time.Time // the trace's root span, trace time
	Kind             diagnosis.Kind
	CulpritService   string
	CulpritOperation string
	Dependency       string
	Reason           string
	// ReasonFromLogs is true when Reason quotes a log record rather than the span's attributes.
	ReasonFromLogs bool
	Candidates     []diagnosis.Candidate // per-trace scores in [0, 1]
	Affected       []string
	Evidence       []string
	// Callers are the services on the path from the root to the culprit.
	Callers []string
	// Chronic: the trace failed with an error its culprit logs at its usual
	// rate, and neither the culprit nor another service slowed it. It is
	// counted in its culprit's incident if that is published when it comes,
	// or in the incident it is a symptom of; it never opens one nor counts
	// toward publishing one: what a service always does is no incident. A
	// chronic observation comes with no others (Record's also).
	Chronic bool
	// Late: evidence about o's culprit came after o's trace was decided,
	// from later traces (its operation's change of path, established once
	// enough of its spans took it). A trace recorded for another culprit
	// counts for this one too; one its culprit's incident counts already
	// is not counted again.
	Late bool
	// DecidedAt is when o's trace was decided, when that was before it is
	// recorded (evidence that came later); zero for now.
	DecidedAt time.Time
}

// Incident is a snapshot of an incident.
type Incident struct {
	ID     string
	Status Status
	// Standing is true while the incident is a standing condition: published
	// when its culprit's change could not be judged yet (a collector that
	// has just started knows no history), shown and counted, not alerted.
	// It becomes an alerting incident once a change of its culprit is judged.
	Standing         bool
	Kind             diagnosis.Kind
	CulpritService   string
	CulpritOperation string
	Dependency       string
	Reason           string
	// Confidence in [0, 1]: the culprit's lead over the runner-up, discounted for few traces.
	Confidence float64
	// Candidates are ranked by support × confidence across the incident's
	// traces: only names with evidence against them, none for filler.
	Candidates []Candidate
	TraceIDs   []pcommon.TraceID // samples, first traces first
	SpanIDs    []pcommon.SpanID  // the culprit span of each sample trace
	Evidence   []string
	Affected   []string
	// WindowStart and WindowEnd span the incident's traces (trace time).
	WindowStart, WindowEnd time.Time
	TraceCount             int
	// Share is the largest share of its culprit's traces, over a window,
	// that the incident's traces made up once published: how much of the
	// service it hurt at its worst, whatever the service's traffic.
	Share float64
}

// Total counts the incidents opened for a culprit service and reason.
type Total struct {
	Service, Reason string
	Count           int64
}

type suspect struct {
	hits int
	sum  float64
	// evidence counts the traces that showed each kind of evidence
	// against it (diagnosis.Evidence bits, lowest first).
	evidence [diagnosis.EvidenceKinds]int
	// recent counts the hits within the window, in processing time.
	recent windowCounter
}

type record struct {
	snap      Incident
	key       key
	published bool
	recent    windowCounter // anomalous traces, processing time
	// through counts, while unpublished, the traces through its culprit
	// operations (Seen): the traffic its share is judged
	// against when its service's other operations are busier.
	through windowCounter
	// operations counts the traces blaming each culprit operation.
	operations map[string]int
	// early are the traces of an unpublished incident, newest last, so that
	// on publication its window starts with the burst that made it stand
	// out, not with an isolated trace long before it.
	early    []earlyTrace
	suspects map[string]*suspect
	last     time.Time // processing time of the last trace
	// changed is the last processing time at which the culprit stood out
	// (the Changed test held) while the incident was published.
	changed time.Time
	emitted time.Time // processing time of the last event
	pending Status    // event to emit, "" when none
	dirty   bool
	// logReason is true when the reason quotes a log record.
	logReason bool
	// held is true once MaxNewServiceIncidents kept the incident back.
	held bool
	// saturated is the processing time of its last trace that found its
	// culprit at its CPU limit (diagnosis.EvidenceSaturated); cpuReason
	// whether its reason says so.
	saturated time.Time
	cpuReason bool
	// symptoms counts, for each service that misbehaved in the incident's
	// traces without being a caller of its culprit, the traces it did so in.
	symptoms map[string]int
	// ready is the processing time since which the unpublished incident
	// has stood out (standsOut), zero while it does not.
	ready time.Time
}

type earlyTrace struct{ at, start, end time.Time }

// maxEarly bounds the traces an unpublished incident remembers.
const maxEarly = 64

// key is an incident's culprit service: one incident per service, whether
// its traces fail or are slow (the kind escalates to error) and whichever of
// its operations they blame (the incident names the most frequent one).
type key struct{ service string }

// Store holds the incidents.
type Store struct {
	opts Options

	mu    sync.Mutex
	byID  map[string]*record
	open  map[key]*record
	order []*record // by creation, for eviction
	// traces are the incidents that counted each trace recorded, its own
	// (its culprit's, or the one it is a symptom of) first.
	traces    *bounded.FIFO[pcommon.TraceID, []*record]
	totals    map[[2]string]int64
	evicted   bounded.Tally
	discarded bounded.Tally
	// traffic counts the traces through each service within the last Window.
	traffic map[string]*windowCounter
	// working are the services of traffic seen in a normal trace.
	working map[string]bool
	// newcomers counts the incidents of new services published within the
	// last Window, and held those kept back by MaxNewServiceIncidents.
	newcomers windowCounter
	held      bounded.Tally
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.MaxIncidents <= 0 {
		opts.MaxIncidents = 1000
	}
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = 10
	}
	if opts.MaxTraceIndex <= 0 {
		opts.MaxTraceIndex = 100_000
	}
	if opts.MinTraces <= 0 {
		opts.MinTraces = 1
	}
	if opts.MaxServices <= 0 {
		opts.MaxServices = 10_000
	}
	if opts.MaxNewServiceIncidents <= 0 {
		opts.MaxNewServiceIncidents = 10
	}
	return &Store{
		opts:    opts,
		byID:    map[string]*record{},
		open:    map[key]*record{},
		traces:  bounded.NewFIFO[pcommon.TraceID, []*record](opts.MaxTraceIndex),
		totals:  map[[2]string]int64{},
		traffic: map[string]*windowCounter{},
		working: map[string]bool{},
	}
}

// Seen counts a decided trace, normal or anomalous, in the traffic of each of
// its services at processing time now, and, spans being its spans, in the
// traffic of the culprit operations of their unpublished incidents: an
// operation's fault is judged against that operation's traffic too, not only
// against its service's (see shareReached). A normal trace also shows its
// services working: they are no longer new to MaxNewServiceIncidents.
func (s *Store) Seen(now time.Time, services []string, spans []diagnosis.Span, normal bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, svc := range services {
		s.seen(now, svc, 1, normal)
		if r := s.open[key{svc}]; r != nil && !r.published && len(r.operations) > 0 {
			for i := range spans {
				if spans[i].Service == svc && r.operations[spans[i].Name] > 0 {
					r.through.add(now, s.opts.Window)
					break
				}
			}
		}
	}
}

// SeenCount counts traces decided elsewhere (by a rootcause shard) in a
// service's traffic: traces in all, of which normal were normal.
func (s *Store) SeenCount(now time.Time, service string, traces, normal int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen(now, service, traces, normal > 0)
}

func (s *Store) seen(now time.Time, svc string, n int64, normal bool) {
	c := s.traffic[svc]
	if c == nil {
		if len(s.traffic) >= s.opts.MaxServices {
			return
		}
		c = &windowCounter{}
		s.traffic[svc] = c
	}
	if normal {
		s.working[svc] = true
	}
	c.addN(now, s.opts.Window, n)
}

// ID returns the deterministic ID of an incident: a hash of its culprit
// service and the start of the window its first trace falls in.
func ID(service string, windowStart time.Time) string {
	h := sha256.New()
	h.Write([]byte(service))
	h.Write([]byte{0})
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(windowStart.UnixNano()))
	h.Write(ts[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Record adds an anomalous trace at processing time now. It returns its
// incident's ID and whether the incident is published (open or resolved);
// an unpublished incident's ID must not be shown to users yet. A chronic
// trace that no published incident takes is in none: "", false.
// A trace recorded twice (e.g. seen by two pipelines) counts once.
//
// also are the trace's other, independent anomalies (a request that failed
// in one service and was slowed by another): each counts in its own
// culprit's incident, while the trace's tags and index name the first.
func (s *Store) Record(now time.Time, o Observation, also ...Observation) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs, ok := s.traces.Get(o.TraceID); ok {
		r := rs[0]
		if saturated := saturatedCulprit(o); saturated || o.Late {
			// Evidence that came after the trace was recorded, for another
			// culprit: a CPU report that puts a service of it at its limit,
			// a change of path established since. The trace counts for that
			// service too, as a slow trace counts for its delay's culprit
			// beside its failure's; once: a CPU report corroborates the
			// service's incident that counts it already.
			o.clean()
			own := -1
			for i, c := range rs {
				if c.key.service == o.CulpritService && s.open[c.key] == c {
					own = i
				}
			}
			switch {
			case own < 0:
				if c := s.route(now, o, r); c != nil && !slices.Contains(rs, c) {
					s.traces.Put(o.TraceID, append(rs, c))
				}
			case saturated:
				s.corroborate(rs[own], now, o)
			}
		}
		return r.snap.ID, r.published
	}
	o.clean()
	r := s.route(now, o, nil)
	rs := []*record{r}
	for _, a := range also {
		if a.CulpritService != "" && a.CulpritService != o.CulpritService {
			a.clean()
			if c := s.route(now, a, r); c != nil && !slices.Contains(rs, c) {
				rs = append(rs, c)
			}
		}
	}
	if r != nil {
		s.traces.Put(o.TraceID, rs)
	}
	if r == nil {
		return "", false // chronic: in no incident
	}
	return r.snap.ID, r.published
}

// Corroborate adds evidence that came after o's trace was recorded for o's
// culprit (its CPU report, diagnosis.EvidenceSaturated) to the culprit's
// open incident, without counting the trace again. With no open incident
// (it ended since), the trace counts anew. It returns the incident's ID and
// whether it is published.
func (s *Store) Corroborate(now time.Time, o Observation) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.clean()
	r := s.open[key{o.CulpritService}]
	if r == nil {
		r = s.route(now, o, nil)
		if r == nil {
			return "", false
		}
		return r.snap.ID, r.published
	}
	s.corroborate(r, now, o)
	return r.snap.ID, r.published
}

// corroborate marks r's culprit as found at its CPU limit by o, a trace r
// counts already: the evidence, the reason that says so, and the publication
// gate, which one trace passes then.
func (s *Store) corroborate(r *record, now time.Time, o Observation) {
	if !saturatedCulprit(o) {
		return
	}
	r.saturated = now
	if sp := r.suspects[o.CulpritService]; sp != nil {
		sp.evidence[bits.TrailingZeros8(uint8(diagnosis.EvidenceSaturated))]++
	}
	takeCPUReason(r, o)
	s.rank(r, now)
	r.dirty = true
	s.maybePublish(r, now)
}

// route adds o to its incident, opening one if needed, and returns it. An
// observation that would fold into counted, the incident that counts its
// trace already, is that incident's symptom and is not counted twice. A
// chronic observation with no published incident to join is not counted:
// route returns nil.
func (s *Store) route(now time.Time, o Observation, counted *record) *record {
	k := key{o.CulpritService}
	r := s.open[k]
	if r != nil && o.Start.After(r.snap.WindowEnd.Add(s.opts.Window)) {
		s.resolve(r)
		r = nil
	}
	if r == nil || !r.published {
		if into := s.foldTarget(o); into != nil {
			if into == counted {
				return into
			}
			// One incident per fault: a trace in which an open incident's
			// culprit misbehaved too, blamed on a service that has not
			// stood out on its own, is that incident's symptom.
			o.Affected = append(slices.Clone(o.Affected), o.CulpritService)
			o.CulpritOperation, o.Dependency, o.Reason, o.ReasonFromLogs = "", "", "", false
			o.Candidates = nil // its own blame would rank the symptom beside the cause
			r = into
		}
	}
	if o.Chronic && (r == nil || !r.published) {
		return nil
	}
	if r == nil {
		r = s.openRecord(k, o)
	}
	s.add(r, now, o)
	s.maybePublish(r, now)
	return r
}

// foldTarget is the published open incident, with the most traces, whose
// culprit misbehaved in the trace too (failed or breached: one of the
// trace's affected services) without being one of the culprit's callers;
// nil when none. Going through the culprit is not enough: a busy service is
// on the path of every fault. A caller is slow or failing because of what
// it calls, so it is never the cause of its callee's trouble. An incident's
// window must reach the trace: a trace is a symptom only of a fault under way.
func (s *Store) foldTarget(o Observation) *record {
	var best *record
	for _, svc := range o.Affected {
		if svc == o.CulpritService || slices.Contains(o.Callers, svc) {
			continue
		}
		r := s.open[key{svc}]
		if r == nil || !r.published || o.Start.After(r.snap.WindowEnd.Add(s.opts.Window)) {
			continue
		}
		if best == nil || r.snap.TraceCount > best.snap.TraceCount {
			best = r
		}
	}
	return best
}

func (s *Store) openRecord(k key, o Observation) *record {
	id := ID(k.service, o.Start.Truncate(s.opts.Window))
	r := s.byID[id]
	if r == nil {
		r = &record{key: k, suspects: map[string]*suspect{}, operations: map[string]int{}}
		r.snap = Incident{
			ID: id, Kind: o.Kind, CulpritService: o.CulpritService, CulpritOperation: o.CulpritOperation,
			Dependency: o.Dependency, Reason: o.Reason, WindowStart: o.Start, WindowEnd: o.End,
			Status: StatusPending,
		}
		s.byID[id] = r
		s.order = append(s.order, r)
		s.evict()
	}
	s.open[k] = r
	if r.published {
		// A resolved incident whose fault returns within the same window keeps its ID.
		r.snap.Status = StatusOpen
		r.pending = StatusOpen
		s.countOpened(r)
	}
	return r
}

// maybePublish opens an incident once it stands out from its culprit's usual
// errors and slow requests: MinTraces anomalous traces within the last
// Window, and at least MinShare of the culprit service's traffic then.
func (s *Store) maybePublish(r *record, now time.Time) {
	if r.published {
		return
	}
	if !s.standsOut(r, now) {
		r.ready = time.Time{} // the symptom's grace starts again when it does
		return
	}
	if r.ready.IsZero() {
		r.ready = now
	}
	if s.symptomOf(r, now) != nil {
		return
	}
	newcomer := !s.working[r.snap.CulpritService]
	if newcomer && s.newcomers.sum(now, s.opts.Window) >= int64(s.opts.MaxNewServiceIncidents) {
		if !r.held {
			r.held = true
			s.held.Add(1)
		}
		return
	}
	if newcomer {
		s.newcomers.add(now, s.opts.Window)
	}
	r.published = true
	s.updateShare(r, now)
	r.changed = now
	r.snap.Status = StatusOpen
	r.pending = StatusOpen
	r.snap.Standing = s.opts.Judged != nil && !s.opts.Judged(r.snap.CulpritService, now)
	if first, last := s.burst(r.early, now); !first.IsZero() {
		r.snap.WindowStart, r.snap.WindowEnd = first, last
	}
	r.early = nil
	if !r.snap.Standing {
		s.countOpened(r)
	}
}

// judge turns a standing condition into an alerting incident once its
// culprit's change is judged: what the service did since the collector
// started is now its history, and it changed against it.
func (s *Store) judge(r *record, now time.Time) {
	if !r.published || !r.snap.Standing || s.opts.Judged == nil || !s.opts.Judged(r.snap.CulpritService, now) {
		return
	}
	if s.opts.Changed != nil && !s.opts.Changed(r.snap.CulpritService, now) {
		return
	}
	r.snap.Standing = false
	r.dirty = true
	if r.pending == "" {
		r.pending = StatusUpdate
	}
	s.countOpened(r)
}

// standsOut tells whether an incident stands out from its culprit's usual
// errors and slow requests at now: MinTraces anomalous traces within the
// last Window, at least MinShare of the culprit's traffic then, and a change
// of the culprit (Changed).
func (s *Store) standsOut(r *record, now time.Time) bool {
	n := r.recent.sum(now, s.opts.Window)
	saturated := !r.saturated.IsZero() && now.Sub(r.saturated) <= s.opts.Window
	if n < int64(s.opts.MinTraces) && !saturated {
		return false
	}
	if s.opts.MinShare > 0 && !s.shareReached(r, n, now) {
		return false
	}
	// A culprit whose CPU rose to its limit changed: that explains its slow
	// requests without a shift of its latency, as in Changed.
	return saturated || s.opts.Changed == nil || s.opts.Changed(r.snap.CulpritService, now)
}

// shareReached: n, the incident's anomalous traces within the window, are
// at least MinShare of its culprit service's traffic, or of the traffic
// through its culprit operations since it was first seen. Either is enough:
// a fault of a low-rate operation is a large share of that operation's
// requests however busy the service's other operations are, while an
// isolated slow request stays a small share of both.
func (s *Store) shareReached(r *record, n int64, now time.Time) bool {
	c := s.traffic[r.snap.CulpritService]
	if c == nil || float64(n) >= s.opts.MinShare*float64(c.sum(now, s.opts.Window)) {
		return true
	}
	through := r.through.sum(now, s.opts.Window)
	return through > 0 && float64(n) >= operationShare*float64(through)
}

// operationShare is the share of the traffic through its culprit
// operations an incident needs when its service's traffic is too busy for
// MinShare: most of it. The traffic is counted from the incident's first
// trace on, which an anomalous trace started, so a small share there says
// little; a fault of the operation hurts most of its requests.
const operationShare = 0.5

// burst is the time span of the traces that made an incident stand out:
// those decided within the last Window, from the latest start back to the
// first pause in their starts that is out of character with the burst, so
// that a straggler before the fault does not date it. A pause is out of
// character beyond a quarter of the Window (the time a change takes to show
// as sustained) or, once the burst has three traces, beyond
// burstPauseFactor times its mean gap: for traces arriving at random at the
// burst's rate, a gap that long happens by chance with probability
// (1+8/g)^-g over g gaps (4% for two, 0.03% for many), and then only
// dates the incident a little late.
func (s *Store) burst(early []earlyTrace, now time.Time) (first, last time.Time) {
	starts := make([]earlyTrace, 0, len(early))
	for _, e := range early {
		if now.Sub(e.at) <= s.opts.Window {
			starts = append(starts, e)
		}
	}
	if len(starts) == 0 {
		return first, last
	}
	slices.SortFunc(starts, func(a, b earlyTrace) int { return a.start.Compare(b.start) })
	latest := starts[len(starts)-1].start
	first, last = latest, starts[len(starts)-1].end
	for i := len(starts) - 2; i >= 0; i-- {
		e := starts[i]
		gap := first.Sub(e.start)
		n := len(starts) - 1 - i // traces in the burst so far
		if gap > s.opts.Window/4 || n >= 3 && gap > burstPauseFactor*latest.Sub(first)/time.Duration(n-1) {
			break
		}
		first = e.start
		if e.end.After(last) {
			last = e.end
		}
	}
	return first, last
}

// burstPauseFactor is how many mean gaps of a burst a pause before it must
// last to set it apart.
const burstPauseFactor = 8

// symptomOf is the other open incident, published or not yet, whose culprit
// misbehaved in most of r's traces without being a caller of r's culprit;
// nil when none. Such an incident is held back: its traces fold into the
// other once that is published (one incident per fault, whichever of the two
// stood out first). Two incidents that are each other's symptom hold neither
// back. An unpublished cause with fewer traces than r holds it back for
// symptomGrace only: a cause explains at least what its symptom does, so one
// that stays smaller is likely not r's cause, while the first seconds of a
// fault are a race between the two (a fault's symptoms may pass the gate
// while its cause's change is not yet sustained).
func (s *Store) symptomOf(r *record, now time.Time) *record {
	for svc, n := range r.symptoms {
		if 2*n <= r.snap.TraceCount {
			continue
		}
		t := s.open[key{svc}]
		if t == nil || t == r || 2*t.symptoms[r.key.service] > t.snap.TraceCount {
			continue
		}
		if t.published || t.snap.TraceCount >= r.snap.TraceCount || now.Sub(r.ready) < s.symptomGrace() {
			return t
		}
	}
	return nil
}

// symptomGrace is how long a symptom waits for a smaller cause to stand
// out: a quarter of the Window, the time a change takes to show as
// sustained (see burst).
func (s *Store) symptomGrace() time.Duration { return s.opts.Window / 4 }

// saturatedCulprit tells whether o found its culprit at its CPU limit.
func saturatedCulprit(o Observation) bool {
	for _, c := range o.Candidates {
		if c.Name == o.CulpritService && c.Evidence&diagnosis.EvidenceSaturated != 0 {
			return true
		}
	}
	return false
}

// takeCPUReason makes o's reason, which says its culprit's CPU is at its
// limit, r's, unless r quotes a log record or says so already.
func takeCPUReason(r *record, o Observation) {
	if !r.logReason && !r.cpuReason && o.Reason != "" && !o.ReasonFromLogs {
		r.snap.Reason, r.cpuReason = o.Reason, true
	}
}

// updateShare takes the share of its culprit's traffic within the window
// that r's traces make up now into r's largest.
func (s *Store) updateShare(r *record, now time.Time) {
	if c := s.traffic[r.snap.CulpritService]; c != nil {
		if n := c.sum(now, s.opts.Window); n > 0 {
			r.snap.Share = max(r.snap.Share, min(1, float64(r.recent.sum(now, s.opts.Window))/float64(n)))
		}
	}
}

func (s *Store) add(r *record, now time.Time, o Observation) {
	in := &r.snap
	in.TraceCount++
	for _, svc := range o.Affected {
		if svc != o.CulpritService && !slices.Contains(o.Callers, svc) {
			if r.symptoms == nil {
				r.symptoms = map[string]int{}
			}
			r.symptoms[svc]++
		}
	}
	// A trace counted on evidence that came later is counted when it was
	// decided, where its traffic was: the share compares like with like.
	decided := now
	if !o.DecidedAt.IsZero() && o.DecidedAt.Before(now) {
		decided = o.DecidedAt
	}
	r.recent.add(decided, s.opts.Window)
	if saturatedCulprit(o) {
		r.saturated = now
		takeCPUReason(r, o)
	}
	if r.published {
		s.updateShare(r, now)
	}
	if o.Kind == diagnosis.KindError {
		in.Kind = o.Kind
	}
	if o.CulpritOperation != "" {
		r.operations[o.CulpritOperation]++
	}
	if !r.published {
		if len(r.early) == maxEarly {
			r.early = append(r.early[:0], r.early[1:]...)
		}
		r.early = append(r.early, earlyTrace{at: decided, start: o.Start, end: o.End})
	}
	if o.CulpritOperation != in.CulpritOperation && r.operations[o.CulpritOperation] > r.operations[in.CulpritOperation] {
		in.CulpritOperation, in.Dependency = o.CulpritOperation, o.Dependency
	}
	if o.Start.Before(in.WindowStart) {
		in.WindowStart = o.Start
	}
	if o.End.After(in.WindowEnd) {
		in.WindowEnd = o.End
	}
	if in.Reason == "" || !r.logReason && o.ReasonFromLogs {
		in.Reason, r.logReason = o.Reason, o.ReasonFromLogs
	}
	if len(in.TraceIDs) >= s.opts.MaxSamples {
		// Keep the first half; the second half rolls over to the latest traces.
		first := s.opts.MaxSamples / 2
		in.TraceIDs = slices.Delete(in.TraceIDs, first, first+1)
		in.SpanIDs = slices.Delete(in.SpanIDs, first, first+1)
	}
	in.TraceIDs = append(in.TraceIDs, o.TraceID)
	in.SpanIDs = append(in.SpanIDs, o.CulpritSpanID)
	for _, e := range o.Evidence {
		s.addEvidence(r, e)
	}
	for _, a := range o.Affected {
		if !slices.Contains(in.Affected, a) {
			in.Affected = append(in.Affected, a)
		}
	}
	slices.Sort(in.Affected)
	for _, c := range o.Candidates {
		sp := r.suspects[c.Name]
		if sp == nil {
			sp = &suspect{}
			r.suspects[c.Name] = sp
		}
		if c.Score >= suspectScore {
			sp.hits++
			sp.recent.add(now, s.opts.Window)
		}
		sp.sum += c.Score
		for k := range sp.evidence {
			if c.Evidence&(1<<k) != 0 {
				sp.evidence[k]++
			}
		}
	}
	s.rank(r, now)
	r.last = now
	r.dirty = true
}

// rank orders the candidates by support (the share of the incident's traces
// where the name is a suspect) times its mean score over all the incident's
// traces, times confidence against the normal traces of the same window
// (after TraceRCA): the share of the name's traces over the window that are
// this incident's and have it as a suspect. A service every request passes
// through is a suspect of many anomalous traces, and of many more normal
// ones; the service whose requests are all hurt explains them. A name whose
// traffic is not counted (a dependency without spans of its own) cannot be
// compared with normal traffic: it takes the culprit's confidence, neither
// gaining nor losing against it.
func (s *Store) rank(r *record, now time.Time) {
	in := &r.snap
	in.Candidates = in.Candidates[:0]
	n := float64(in.TraceCount)
	confidence := func(name string) (float64, bool) {
		c, sp := s.traffic[name], r.suspects[name]
		if c == nil || sp == nil {
			return 0, false
		}
		total := c.sum(now, s.opts.Window)
		if total == 0 {
			return 0, false
		}
		return min(1, float64(sp.recent.sum(now, s.opts.Window))/float64(total)), true
	}
	culpritConfidence, ok := confidence(in.CulpritService)
	if !ok {
		culpritConfidence = 1
	}
	for name, sp := range r.suspects {
		if sp.hits == 0 || sp.evidence == ([diagnosis.EvidenceKinds]int{}) {
			continue // a bystander: on the incident's traces, and nothing more
		}
		support := float64(sp.hits) / n
		c, ok := confidence(name)
		if !ok {
			c = culpritConfidence
		}
		score := support * sp.sum / n * c
		if score < minCandidateScore && name != in.CulpritService {
			continue // the culprit is listed whatever its score: it is the incident's answer
		}
		in.Candidates = append(in.Candidates, Candidate{
			Candidate: diagnosis.Candidate{Name: name, Score: score, Evidence: sp.evidenceSeen()},
			Evidence:  sp.describe(in.TraceCount),
		})
	}
	slices.SortFunc(in.Candidates, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Name, b.Name))
	})
	// The culprit's own dependency is part of the same blame, not a rival.
	first, second := 0.0, 0.0
	for _, c := range in.Candidates {
		switch c.Name {
		case in.CulpritService:
			first = c.Score
		case in.Dependency:
		default:
			second = max(second, c.Score)
		}
	}
	in.Confidence = 0
	if first > 0 {
		in.Confidence = first / (first + second) * (1 - math.Pow(0.5, n))
	}
}

func (s *Store) addEvidence(r *record, e string) bool {
	if e == "" || len(r.snap.Evidence) >= s.opts.MaxSamples || slices.Contains(r.snap.Evidence, e) {
		return false
	}
	r.snap.Evidence = append(r.snap.Evidence, e)
	return true
}

func (s *Store) resolve(r *record) {
	delete(s.open, r.key)
	if !r.published {
		s.discard(r)
		return
	}
	r.snap.Status = StatusResolved
	r.pending = StatusResolved
}

// discard forgets an incident that was never published.
func (s *Store) discard(r *record) {
	if i := slices.Index(s.order, r); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
	delete(s.byID, r.snap.ID)
	// Its traces stay in the trace index, which forgets them in turn; they
	// point at a record no lookup returns.
	s.discarded.Add(1)
}

// evict forgets incidents beyond MaxIncidents: resolved ones first (oldest
// first), then candidates never published, then the open incident with the
// fewest traces (the oldest of them). A flood of small incidents, from a
// fault or from anyone who can send telemetry, then evicts its own kind, not
// the large incident a person is looking at.
func (s *Store) evict() {
	for len(s.order) > s.opts.MaxIncidents {
		i := slices.IndexFunc(s.order, func(r *record) bool { return r.snap.Status == StatusResolved && r.pending == "" })
		if i < 0 {
			i = slices.IndexFunc(s.order, func(r *record) bool { return !r.published })
		}
		if i < 0 {
			i = 0
			for j, r := range s.order {
				if r.snap.TraceCount < s.order[i].snap.TraceCount {
					i = j
				}
			}
		}
		r := s.order[i]
		s.order = slices.Delete(s.order, i, i+1)
		delete(s.byID, r.snap.ID)
		if s.open[r.key] == r {
			delete(s.open, r.key)
		}
		s.traces.DeleteFunc(func(_ pcommon.TraceID, rs []*record) bool { return slices.Contains(rs, r) })
		s.evicted.Add(1)
	}
}

// otherSeries is the (service, reason) series of the opened incidents that
// the bound on series folds into.
var otherSeries = [2]string{"(other)", "(other)"}

// countOpened counts an opened incident by culprit service and reason, the
// series of the incident metrics: at most MaxIncidents of them, beyond which
// they fold into otherSeries (an attacker's flood of services and reasons
// would otherwise become as many series downstream).
func (s *Store) countOpened(r *record) {
	k := [2]string{r.snap.CulpritService, r.snap.Reason}
	if _, ok := s.totals[k]; !ok && len(s.totals) >= s.opts.MaxIncidents {
		k = otherSeries
	}
	s.totals[k]++
}

// Flush resolves the incidents idle, or back to normal, for ResolveAfter and returns the events due
// at processing time now: opens and resolves always, updates at most once per
// UpdateInterval per incident.
func (s *Store) Flush(now time.Time) []Incident {
	return s.flush(now, false)
}

// FlushFinal is Flush at shutdown: an open incident changed since its last
// record gets its update now, whenever the last came, so that what it
// gathered since (the traces decided at shutdown among them) reaches the
// backends instead of going with the process.
func (s *Store) FlushFinal(now time.Time) []Incident {
	return s.flush(now, true)
}

func (s *Store) flush(now time.Time, final bool) []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.open {
		if r.published && (s.opts.Changed == nil || s.opts.Changed(r.snap.CulpritService, now)) {
			r.changed = now
		}
		s.judge(r, now)
		if now.Sub(r.last) >= s.opts.ResolveAfter || r.published && now.Sub(r.changed) >= s.opts.ResolveAfter {
			s.resolve(r)
		} else {
			// Traffic keeps flowing while the anomalous traces do not: the
			// share may have been reached by the other side.
			s.maybePublish(r, now)
		}
	}
	var out []Incident
	for _, r := range s.order {
		st := r.pending
		if st == "" && r.dirty && r.snap.Status == StatusOpen && (final || now.Sub(r.emitted) >= s.opts.UpdateInterval) {
			st = StatusUpdate
		}
		if st == "" {
			continue
		}
		snap := r.snapshot()
		snap.Status = st
		out = append(out, snap)
		r.pending, r.dirty, r.emitted = "", false, now
	}
	return out
}

func (r *record) snapshot() Incident {
	c := r.snap
	c.Candidates = slices.Clone(c.Candidates)
	c.TraceIDs = slices.Clone(c.TraceIDs)
	c.SpanIDs = slices.Clone(c.SpanIDs)
	c.Evidence = slices.Clone(c.Evidence)
	c.Affected = slices.Clone(c.Affected)
	return c
}

// AddEvidence adds log messages to an incident; false when the incident is unknown.
func (s *Store) AddEvidence(id string, messages ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok {
		return false
	}
	for _, m := range messages {
		if s.addEvidence(r, m) {
			r.dirty = true
		}
	}
	return true
}

// ImproveReason replaces the reason of an incident built from span attributes
// by one quoted from a log record; false when the incident is unknown or its
// reason already quotes a log.
func (s *Store) ImproveReason(id, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok || r.logReason || reason == "" {
		return false
	}
	r.snap.Reason, r.logReason, r.dirty = reason, true, true
	return true
}

// Window is an open incident's culprit, the services it involves and its traces' time span.
type Window struct {
	ID, Culprit string
	Services    []string // culprit and affected services
	Start, End  time.Time
}

// OpenWindows returns the open incidents' windows, widened by Window on each side.
func (s *Store) OpenWindows() []Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Window, 0, len(s.open))
	for _, r := range s.order {
		in := &r.snap
		if in.Status != StatusOpen {
			continue
		}
		w := Window{
			ID: in.ID, Culprit: in.CulpritService,
			Services: append([]string{in.CulpritService}, in.Affected...),
			Start:    in.WindowStart.Add(-s.opts.Window), End: in.WindowEnd.Add(s.opts.Window),
		}
		out = append(out, w)
	}
	return out
}

// Active returns the number of open incidents, and of the standing
// conditions among them.
func (s *Store) Active() (open, standing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.open {
		if r.published {
			open++
			if r.snap.Standing {
				standing++
			}
		}
	}
	return open, standing
}

// Totals returns the incidents opened so far per culprit service and reason, sorted.
func (s *Store) Totals() []Total {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Total, 0, len(s.totals))
	for k, n := range s.totals {
		out = append(out, Total{Service: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b Total) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// TakeEvicted returns the incidents forgotten because of MaxIncidents since the previous call.
func (s *Store) TakeEvicted() int64 { return s.evicted.Take() }

// TakeHeld returns, and resets, the incidents of new services kept back by
// MaxNewServiceIncidents since the previous call (each counted once).
func (s *Store) TakeHeld() int64 { return s.held.Take() }

// TakeDiscarded returns, and resets, the number of incidents forgotten
// without being published (background noise).
func (s *Store) TakeDiscarded() int64 { return s.discarded.Take() }

// maxText bounds the bytes of a name or a reason an incident keeps: they come
// from the telemetry (span names, log bodies), which anyone who can send it
// chooses, and they reach labels and records downstream.
const maxText = 512

// clean makes the observation's text valid UTF-8 (a record with invalid
// UTF-8 breaks JSON writers) and at most maxText bytes.
func (o *Observation) clean() {
	o.CulpritService = cleanText(o.CulpritService)
	o.CulpritOperation = cleanText(o.CulpritOperation)
	o.Dependency = cleanText(o.Dependency)
	o.Reason = cleanText(o.Reason)
	cloned := false
	for i, e := range o.Evidence {
		if c := cleanText(e); c != e {
			if !cloned {
				o.Evidence, cloned = slices.Clone(o.Evidence), true // the caller's slice stays as it was
			}
			o.Evidence[i] = c
		}
	}
}

func cleanText(s string) string {
	if len(s) <= maxText && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxText {
		return s
	}
	cut := maxText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Saved is an open incident as it outlives the collector process.
type Saved struct {
	Incident
	// Last is the time of its latest trace (the store's clock).
	Last time.Time
}

// Save returns the published open incidents, for Restore in the next run.
func (s *Store) Save() []Saved {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Saved
	for _, r := range s.order {
		if r.published && s.open[r.key] == r {
			out = append(out, Saved{Incident: r.snapshot(), Last: r.last})
		}
	}
	return out
}

// Restore reopens the incidents an earlier run saved, before any trace of
// this one: the same fault keeps its incident and ID (its alerts and links
// stay valid), and an incident whose traces stopped while the collector was
// down resolves at the first Flush past ResolveAfter, with its resolved
// record. An incident whose ID or culprit is known already is skipped; it
// reports how many were restored.
func (s *Store) Restore(saved []Saved) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sv := range saved {
		k := key{sv.CulpritService}
		if sv.ID == "" || s.byID[sv.ID] != nil || s.open[k] != nil {
			continue
		}
		r := &record{
			snap: sv.Incident, key: k, published: true,
			suspects: map[string]*suspect{}, operations: map[string]int{}, symptoms: map[string]int{},
			last: sv.Last, changed: sv.Last, emitted: sv.Last,
		}
		r.snap.Status = StatusOpen
		s.byID[r.snap.ID] = r
		s.open[k] = r
		s.order = append(s.order, r)
		n++
	}
	s.evict()
	return n
}
