// Package diagnosis decides whether one complete trace is anomalous and, if it
// is, which span caused it and why. It is pure: a trace and baselines in, a
// verdict out (and the kinds of spans that came without one); no clock, no
// I/O, no shared state.
package diagnosis // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"

import (
	"cmp"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span is the part of a span the diagnosis reads.
type Span struct {
	ID, Parent pcommon.SpanID
	Service    string
	Name       string
	Kind       ptrace.SpanKind
	Start, End int64 // Unix nanoseconds

	StatusError bool
	// StatusOK is an explicit OK status: the instrumentation says the span
	// succeeded, whatever its exceptions and logs.
	StatusOK      bool
	StatusMessage string
	HTTPStatus    int64 // http.response.status_code, 0 when absent
	// GRPCStatus is the gRPC status code (rpc.grpc.status_code); valid when
	// HasGRPCStatus, as 0 is OK.
	GRPCStatus    int64
	HasGRPCStatus bool
	ErrorType     string // error.type
	PeerService   string // peer.service
	ServerAddress string // server.address
	DBSystem      string // db.system.name
	DBOperation   string // db.operation.name
	DBCollection  string // db.collection.name
	Exceptions    []string
	// Pattern identifies the set of log templates the span wrote (the path
	// its code took); 0 when it wrote none.
	Pattern uint64
	// Entry is the request the span serves in its service: the service
	// that called the visit and the name of the span that began it (the
	// span itself when it did), set by Diagnose for a span with a Pattern,
	// whose paths are judged among those of the same entry and name: what a
	// request asks decides its path (a shared handler's two endpoints, the
	// train types one caller asks for and another does not).
	Entry string
}

func (s *Span) failed() bool { return s.StatusError || s.HTTPStatus >= 500 || s.grpcFailed() }

// succeeded: the span says it succeeded, by an OK status, an HTTP status
// below 500 or a gRPC status that is no failure; a span with none says
// nothing either way.
func (s *Span) succeeded() bool {
	return s.StatusOK || s.HTTPStatus > 0 && s.HTTPStatus < 500 || s.HasGRPCStatus && !s.grpcFailed()
}

// grpcFailed reads the gRPC status as OpenTelemetry's semantic conventions
// read it on a server: the codes that are the server's own fault (UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS) are a
// failure, not those that answer the request as asked (NOT_FOUND,
// INVALID_ARGUMENT, ...). A client is read the same way, as an HTTP client
// is by the same 5xx as its server: a NOT_FOUND it was given is no fault of
// either end, while a deadline or an unavailable server is one whichever
// end records it.
func (s *Span) grpcFailed() bool {
	if !s.HasGRPCStatus {
		return false
	}
	switch s.GRPCStatus {
	case 2, 4, 12, 13, 14, 15:
		return true
	}
	return false
}

// grpcCodes are the gRPC status codes' names, by code.
var grpcCodes = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// statusText is the failure a span's own status code states ("HTTP 503",
// "gRPC UNAVAILABLE"); "" when its codes state none.
func (s *Span) statusText() string {
	switch {
	case s.HTTPStatus >= 500:
		return "HTTP " + itoa(s.HTTPStatus)
	case s.grpcFailed() && s.GRPCStatus < int64(len(grpcCodes)):
		return "gRPC " + grpcCodes[s.GRPCStatus]
	case s.grpcFailed():
		return "gRPC status " + itoa(s.GRPCStatus)
	}
	return ""
}

func (s *Span) duration() int64 { return max(0, s.End-s.Start) }

func (s *Span) outbound() bool {
	return s.Kind == ptrace.SpanKindClient || s.Kind == ptrace.SpanKindProducer
}

// dependency names what an outbound span calls, "" when it names nothing.
func (s *Span) dependency() string {
	switch {
	case s.PeerService != "":
		return s.PeerService
	case s.DBSystem != "":
		return s.DBSystem
	default:
		return s.ServerAddress
	}
}

// Log is a log record linked to the trace.
type Log struct {
	Service  string
	SpanID   pcommon.SpanID // zero when the record names no span
	Severity plog.SeverityNumber
	Body     string
}

// Baselines tells what is normal for an operation of a service.
type Baselines interface {
	// Threshold is the latency above which a server span breaches its objective;
	// false when there is no objective (yet).
	Threshold(service, operation string) (time.Duration, bool)
	// Typical is the usual exclusive time of a span; false when unknown.
	Typical(service, operation string) (time.Duration, bool)
}

// NewPatternText starts the failure text of a span that took a path its
// operation never took; the operation's name follows.
const NewPatternText = "new log pattern of "

// Kind says why a trace is anomalous.
type Kind uint8

const (
	KindNone Kind = iota
	KindError
	KindLatency
)

func (k Kind) String() string {
	switch k {
	case KindError:
		return "error"
	case KindLatency:
		return "latency"
	default:
		return "none"
	}
}

// Candidate is a service or dependency with its suspicion score in [0, 1]
// and what in the trace made it a suspect.
type Candidate struct {
	Name     string
	Score    float64
	Evidence Evidence
}

// Evidence is what a trace shows against a candidate: a set of these bits.
// A candidate without any is a bystander, on the trace and nothing more.
type Evidence uint8

const (
	// EvidenceOrigin: the trace's failure or delay started there.
	EvidenceOrigin Evidence = 1 << iota
	// EvidenceFailed: its own span failed on the failure's way up.
	EvidenceFailed
	// EvidenceSlow: its span on the critical path took longer than usual.
	EvidenceSlow
	// EvidenceSaturated: its CPU rose to its limit (from normal) while its
	// span took longer than usual: a second, independent witness.
	EvidenceSaturated
	// EvidenceKinds is the number of Evidence bits; EvidenceAll has each.
	EvidenceKinds = iota
	EvidenceAll   = 1<<EvidenceKinds - 1
)

// Problems counts malformed data found in the trace. Affected spans are
// ignored (zero or duplicate IDs, cycles) or repaired (clipped to the parent).
type Problems struct {
	ZeroSpanID    int // spans with an all-zero span ID: ignored
	DuplicateID   int // spans whose ID was already seen in the trace: ignored
	Orphans       int // spans whose parent is not in the trace: diagnosed as sub-trees
	Cycles        int // spans in or below a parent cycle: ignored
	OutsideParent int // spans starting before or ending after their parent: clipped
	ExtraRoots    int // parentless spans beyond the first
}

// Verdict is the outcome of one diagnosis.
type Verdict struct {
	Anomalous bool
	Kind      Kind
	// Root is the index of the trace's root span, Culprit of the culprit span; -1 when none.
	Root, Culprit    int
	CulpritService   string
	CulpritOperation string
	// Dependency is the uninstrumented dependency blamed through an outbound span, if any.
	Dependency string
	Reason     string
	// ReasonFromLogs is true when Reason quotes a log record of the culprit service.
	ReasonFromLogs bool
	// ErrorText is the failure's own words for an error verdict: the ERROR log
	// naming the failed span, else its exception or status message.
	ErrorText string
	// Callers are the services on the path from the root to the culprit
	// span, the culprit's own service excluded.
	Callers []string
	// Evidence holds log messages ("service: body") that support the reason, best first.
	Evidence []string
	// Candidates are scored services and dependencies, best first.
	Candidates []Candidate
	// Affected are the services whose server spans failed or breached, sorted.
	Affected []string
	Problems Problems
	// Exclusive holds every span's exclusive time, aligned with the input; -1 for ignored spans.
	Exclusive []time.Duration
	// Parts are the trace's visits and calls, for the processor's profile.
	Parts []Part
	// Blames are the services whose parts exceed their usual latency, by
	// how much, when the Baselines are a Reference.
	Blames []Blame
	// NewPattern is true when the culprit span failed by taking a path its
	// operation never took (see Span.Pattern).
	NewPattern bool
	// WrongAnswer is the caller's record that blamed the culprit's answer
	// (a callee that returned a wrong value), nil otherwise.
	WrongAnswer *Log
	// slowed lists the services with a breached part (see Slowed).
	slowed []string
	// Slow is the trace's other anomaly when it failed: a service that
	// slowed it beyond its usual latency, in another service than the
	// failure's and not as its cause (a timeout would have made it the
	// culprit). Its Culprit is -1 when there is none.
	Slow Slow
}

// Slowed tells whether service was far slower than usual in the trace: one
// of its parts (a visit, a call into it or out of it) breached its usual
// latency, by the test that makes a part an anomaly on its own.
func (v *Verdict) Slowed(service string) bool { return slices.Contains(v.slowed, service) }

// Slow is a latency culprit beside a failure.
type Slow struct {
	Culprit            int
	Service, Operation string
	Reason             string
	// Callers are the services on the path from the root to its span.
	Callers []string
	// Delayed are the services that took longer than usual in the trace:
	// a span beyond its objective, or a part beyond its usual latency. Only
	// they can explain the delay: a failure that returned at once freed its
	// caller at once, and the time lost elsewhere is not its doing.
	Delayed []string
}

// delayed lists the services that can explain the delay of the slow
// service, sorted: those that took longer than usual themselves (a span
// beyond its objective, a part beyond its usual latency), and those that
// failed below one of its slow visits early enough for most of the visit's
// lost time to come after the failure (the visit waited, backed off and
// retried around it). A failure cannot have caused what happened before it,
// nor a delay in the call that reached the slow service.
func (d *Diagnoser) delayed(spans []Span, root int, slow string, parts []Part, b Baselines, ref Reference) []string {
	var out []string
	for i := range spans {
		s := &spans[i]
		if d.ignored[i] || s.Kind != ptrace.SpanKindServer && i != root {
			continue
		}
		if th, ok := b.Threshold(s.Service, s.Name); ok && time.Duration(s.duration()) > th {
			out = appendUnique(out, s.Service)
		}
	}
	for k := range parts {
		p := &parts[k]
		if !ref.Breached(p.Key, p.Value) {
			continue
		}
		out = appendUnique(out, spans[p.Span].Service)
		if p.Key.Kind != PartVisit || p.Key.Service != slow {
			continue
		}
		usual, _ := ref.Usual(p.Key)
		excess := p.Value - usual
		visitEnd := spans[p.Span].End
		for i := range spans {
			if d.failed[i] && !d.ignored[i] && d.below(int32(i), p.Span) && time.Duration(visitEnd-spans[i].End) >= excess/2 {
				out = appendUnique(out, spans[i].Service)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Diagnoser holds reusable scratch space. It is not safe for concurrent use.
type Diagnoser struct {
	index    map[pcommon.SpanID]int32
	parent   []int32
	depth    []int32
	order    []int32 // breadth-first from the roots
	kids     []int32 // children of i are kids[kidOff[i]:kidOff[i+1]]
	kidOff   []int32
	fill     []int32
	ignored  []bool
	failed   []bool
	breached []bool
	logError []bool
	novel    []bool // the span took a path its operation never took
	// pathBlames is latencyCulprit's scratch for the critical path's blames.
	pathBlames []serviceBlame
	logBody    []string // the ERROR log naming the span, "" when none
	onPath     []bool
	cpSelf     []int64
	score      []float64
	tmp        []int32
	blames     []serviceBlame
	calls      []int32
	slowCalls  map[[2]string]callCount // see countSlowCalls
	excesses   []time.Duration         // of each part, -1 when unknown; see blameParts
	intervals  [][2]int64
	breaches   []int32 // the parts far beyond their usual latency (Reference.Breached)
}

// NewDiagnoser returns a Diagnoser.
func NewDiagnoser() *Diagnoser { return &Diagnoser{index: map[pcommon.SpanID]int32{}} }

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// Diagnose judges one trace. The spans are not modified, except that a span
// without a kind is given the one its place in the trace implies (inferKinds;
// ignored spans, with a zero or repeated ID or in a cycle, keep none).
func (d *Diagnoser) Diagnose(spans []Span, logs []Log, b Baselines) Verdict {
	v := Verdict{Root: -1, Culprit: -1, Slow: Slow{Culprit: -1}}
	n := len(spans)
	v.Exclusive = make([]time.Duration, n)
	if n == 0 {
		return v
	}
	d.build(spans, &v.Problems)
	v.Root = d.root(spans, &v.Problems)
	d.exclusive(spans, v.Exclusive, &v.Problems)
	v.Parts = d.parts(spans, nil)
	ref, _ := b.(Reference)
	if ref != nil {
		d.blameParts(spans, v.Parts, ref)
		for _, bl := range d.blames {
			if bl.total > 0 {
				v.Blames = append(v.Blames, Blame{Service: bl.service, Excess: time.Duration(bl.total), Span: bl.span})
			}
		}
	}
	// The parts far beyond their usual latency, judged once: they make a
	// request slow without an objective of its own, and say which services
	// were slowed in it.
	d.breaches = d.breaches[:0]
	for k := range v.Parts {
		if ref == nil {
			break
		}
		if p := &v.Parts[k]; ref.Breached(p.Key, p.Value) {
			d.breaches = append(d.breaches, int32(k))
			v.slowed = appendUnique(v.slowed, p.Key.Service)
			if p.Key.Peer != "" {
				v.slowed = appendUnique(v.slowed, p.Key.Peer)
			}
		}
	}

	var anyFailed, anyBreached bool
	d.markLogErrors(spans, logs)
	for i := range spans {
		s := &spans[i]
		if d.ignored[i] {
			continue
		}
		// Instrumentations that leave the status unset (many Java agents,
		// hand-written spans) report a failure only as an exception event or
		// an ERROR log: it counts wherever it is.
		// A span whose code took a path its operation never took (an
		// exception caught, a wrong value returned, a step skipped) failed
		// at what it usually does, even when it says nothing else.
		if s.Pattern != 0 {
			e := d.visitEntry(spans, int32(i))
			caller := ""
			if p := d.parent[e]; p >= 0 {
				caller = spans[p].Service
			}
			s.Entry = caller + " " + spans[e].Name
			d.novel[i] = ref != nil && ref.NovelPattern(s.Service, s.Entry, s.Name, s.Pattern)
		}
		silent := !s.StatusOK && (len(s.Exceptions) > 0 || d.logError[i] || d.novel[i])
		d.failed[i] = s.failed() || silent
		if silent {
			anyFailed = true
			v.Affected = appendUnique(v.Affected, s.Service)
		}
		if s.Kind != ptrace.SpanKindServer && i != v.Root {
			continue
		}
		if d.failed[i] {
			anyFailed = true
			v.Affected = appendUnique(v.Affected, s.Service)
		} else if th, ok := b.Threshold(s.Service, s.Name); ok && time.Duration(s.duration()) > th {
			d.breached[i] = true
			anyBreached = true
			v.Affected = appendUnique(v.Affected, s.Service)
		}
	}
	if !anyFailed && !anyBreached {
		// Without a learned objective of its own (a low-rate operation, a
		// fresh deployment), a request is slow when one of its parts is
		// far beyond what that part, its service or all parts usually take.
		for _, k := range d.breaches {
			anyBreached = true
			v.Affected = appendUnique(v.Affected, spans[v.Parts[k].Span].Service)
		}
	}
	switch {
	case anyFailed:
		v.Kind = KindError
		v.Culprit = d.errorOrigin(spans)
		if c := v.Culprit; c >= 0 && spans[c].outbound() {
			// A call that failed while its callee did not: the callee was too
			// slow (a timeout). Blame the slowest part of the callee.
			if callee := d.serverChild(spans, int32(c)); callee >= 0 {
				if lc := d.latencyCulprit(spans, callee, b); lc >= 0 {
					v.Culprit = int(lc)
				}
			}
		} else if k, l := d.wrongAnswer(spans, c, logs); k >= 0 {
			// The caller says what failed it: the answer of a call that
			// succeeded (a wrong value returned).
			v.Culprit, v.WrongAnswer = int(k), l
		} else if c >= 0 && ref != nil {
			// A failure that waited for something slower than usual below
			// it (a timeout, a circuit breaker opening) is a symptom of
			// that delay: blame what the delay is blamed on, when the
			// failure followed it (failedAfterDelay).
			if lc := d.partCulprit(ref); lc >= 0 && lc != int32(c) && d.below(lc, int32(c)) && d.failedAfterDelay(spans, v.Parts, int32(c), lc) {
				v.Culprit = int(lc)
			}
		}
	case anyBreached:
		v.Kind = KindLatency
		v.Culprit = -1
		if ref != nil {
			v.Culprit = int(d.partCulprit(ref))
		}
		if v.Culprit < 0 {
			top := d.topBreach(spans)
			if top < 0 {
				top = int32(v.Root)
			}
			v.Culprit = int(d.latencyCulprit(spans, top, b))
		}
	default:
		return v
	}
	v.Anomalous = true
	if v.Culprit < 0 {
		v.Culprit = v.Root
	}
	v.Callers = d.callers(spans, v.Culprit)
	v.NewPattern = v.Kind == KindError && v.Culprit >= 0 && d.novel[v.Culprit] && !d.logError[v.Culprit] && len(spans[v.Culprit].Exceptions) == 0
	if v.Kind == KindError && v.Culprit >= 0 && ref != nil {
		// A request can be hurt twice: failed by one service and slowed by
		// another. The delay is an anomaly of its own when one of the slow
		// service's parts breached (it would have made the trace slow
		// alone), and each incident counts the requests it hurt.
		if lc := d.partCulprit(ref); lc >= 0 && spans[lc].Service != spans[v.Culprit].Service && breachedParts(v.Parts, spans[lc].Service, ref) {
			v.Slow = Slow{
				Culprit: int(lc), Service: spans[lc].Service, Operation: spans[lc].Name,
				Reason:  partReason(spans, v.Parts, spans[lc].Service, ref),
				Callers: d.callers(spans, int(lc)),
				Delayed: d.delayed(spans, v.Root, spans[lc].Service, v.Parts, b, ref),
			}
		}
	}
	if v.Kind == KindError && v.Culprit >= 0 {
		if v.WrongAnswer != nil {
			v.ErrorText = v.WrongAnswer.Body
		} else {
			v.ErrorText = d.errorText(spans, spans[v.Culprit].Service)
		}
	}
	if v.Culprit >= 0 {
		c := &spans[v.Culprit]
		v.CulpritService, v.CulpritOperation = c.Service, c.Name
		if c.outbound() && d.serverChild(spans, int32(v.Culprit)) < 0 {
			v.Dependency = c.dependency()
		}
		v.Reason, v.Evidence, v.ReasonFromLogs = reason(spans, v.Culprit, v.Kind, logs)
		if l := v.WrongAnswer; l != nil {
			v.Reason = c.Name + " answered " + l.Service + " with a value it could not use: " + sentence(l.Body)
			v.Evidence = append([]string{l.Service + ": " + l.Body}, v.Evidence...)[:min(maxEvidence, len(v.Evidence)+1)]
			v.ReasonFromLogs = true
		}
		if ref != nil && !v.ReasonFromLogs && v.Kind == KindLatency {
			if r := partReason(spans, v.Parts, c.Service, ref); r != "" {
				v.Reason = r
			}
		}
		v.Affected = appendUnique(v.Affected, c.Service)
	}
	slices.Sort(v.Affected)
	v.Candidates = d.candidates(spans, &v, b)
	return v
}

// Novel tells whether span i of the trace last diagnosed took a path its
// operation never took, or rarely took and now takes in most of its spans
// (Reference.NovelPattern): it counted as failed.
func (d *Diagnoser) Novel(i int) bool { return i >= 0 && i < len(d.novel) && d.novel[i] }

// Callers are the services on the path from the root to span i of the
// trace last diagnosed, its own service excluded, nearest first.
func (d *Diagnoser) Callers(spans []Span, i int) []string { return d.callers(spans, i) }

func (d *Diagnoser) callers(spans []Span, i int) []string {
	if i < 0 {
		return nil
	}
	var out []string
	for p := d.parent[i]; p >= 0; p = d.parent[p] {
		if svc := spans[p].Service; svc != spans[i].Service {
			out = appendUnique(out, svc)
		}
	}
	return out
}

// errorText is the failure's own words, from the deepest failed span of the
// culprit's service (else of any service): the ERROR log naming it, else its
// exception or status message, else its HTTP status.
func (d *Diagnoser) errorText(spans []Span, service string) string {
	if t := d.failureText(spans, service); t != "" {
		return t
	}
	return d.failureText(spans, "")
}

func (d *Diagnoser) failureText(spans []Span, service string) string {
	for k := len(d.order) - 1; k >= 0; k-- {
		i := d.order[k]
		if !d.failed[i] || service != "" && spans[i].Service != service {
			continue
		}
		s := &spans[i]
		switch {
		case d.logBody[i] != "":
			return d.logBody[i]
		case len(s.Exceptions) > 0 && s.Exceptions[0] != "":
			return s.Exceptions[0]
		case s.StatusMessage != "":
			return s.StatusMessage
		case s.statusText() != "":
			return s.statusText()
		case d.novel[i]:
			// The visit's own error line, when its entry wrote one, says
			// what the new path did: the path is how, not what.
			for p := d.parent[i]; p >= 0 && spans[p].Service == s.Service; p = d.parent[p] {
				if d.logBody[p] != "" {
					return d.logBody[p]
				}
			}
			return NewPatternText + s.Name
		}
	}
	return ""
}

// visitEntry is the span that began span i's visit to its service: its
// farthest ancestor reached through spans of the same service.
func (d *Diagnoser) visitEntry(spans []Span, i int32) int32 {
	for p := d.parent[i]; p >= 0 && spans[p].Service == spans[i].Service; p = d.parent[p] {
		i = p
	}
	return i
}

// below reports whether span i is a descendant of span top.
func (d *Diagnoser) below(i, top int32) bool {
	for p := d.parent[i]; p >= 0; p = d.parent[p] {
		if p == top {
			return true
		}
	}
	return false
}

// markLogErrors flags the spans an ERROR or FATAL log record names.
func (d *Diagnoser) markLogErrors(spans []Span, logs []Log) {
	for i := range logs {
		l := &logs[i]
		if l.Severity < plog.SeverityNumberError || l.SpanID.IsEmpty() {
			continue
		}
		if j, ok := d.index[l.SpanID]; ok && !d.ignored[j] && spans[j].Service == l.Service {
			d.logError[j] = true
			if d.logBody[j] == "" {
				d.logBody[j] = l.Body
			}
		}
	}
}

// build indexes the spans, links parents to children and finds cycles.
func (d *Diagnoser) build(spans []Span, p *Problems) {
	n := len(spans)
	clear(d.index)
	d.parent = grow(d.parent, n)
	d.depth = grow(d.depth, n)
	d.ignored = grow(d.ignored, n)
	d.failed = grow(d.failed, n)
	d.breached = grow(d.breached, n)
	d.logError = grow(d.logError, n)
	d.novel = grow(d.novel, n)
	d.logBody = grow(d.logBody, n)
	d.onPath = grow(d.onPath, n)
	d.cpSelf = grow(d.cpSelf, n)
	d.score = grow(d.score, n)
	d.kidOff = grow(d.kidOff, n+1)
	for i := range spans {
		id := spans[i].ID
		switch _, dup := d.index[id]; {
		case id.IsEmpty():
			p.ZeroSpanID++
			d.ignored[i] = true
		case dup:
			p.DuplicateID++
			d.ignored[i] = true
		default:
			d.index[id] = int32(i)
		}
	}
	for i := range spans {
		d.parent[i] = -1
		if d.ignored[i] || spans[i].Parent.IsEmpty() {
			continue
		}
		if j, ok := d.index[spans[i].Parent]; ok && int(j) != i {
			d.parent[i] = j
			d.kidOff[j+1]++
		} else {
			p.Orphans++
		}
	}
	for i := 1; i <= n; i++ {
		d.kidOff[i] += d.kidOff[i-1]
	}
	d.kids = grow(d.kids, int(d.kidOff[n]))
	d.fill = grow(d.fill, n)
	copy(d.fill, d.kidOff[:n])
	for i := range spans {
		if j := d.parent[i]; j >= 0 {
			d.kids[d.fill[j]] = int32(i)
			d.fill[j]++
		}
	}
	// Breadth-first from every parentless span; what is left is in or below a cycle.
	d.order = d.order[:0]
	for i := range spans {
		if !d.ignored[i] && d.parent[i] < 0 {
			d.order = append(d.order, int32(i))
		}
	}
	for k := 0; k < len(d.order); k++ {
		i := d.order[k]
		for _, c := range d.children(i) {
			d.depth[c] = d.depth[i] + 1
			d.order = append(d.order, c)
		}
	}
	reached := len(d.order)
	for i := range spans {
		if !d.ignored[i] {
			reached--
		}
	}
	if reached < 0 {
		seen := d.onPath // borrowed, cleared below
		for _, i := range d.order {
			seen[i] = true
		}
		for i := range spans {
			if !d.ignored[i] && !seen[i] {
				p.Cycles++
				d.ignored[i] = true
			}
		}
		clear(seen)
	}
	// Children by start time, for the exclusive time and the critical path.
	for i := range spans {
		slices.SortFunc(d.children(int32(i)), func(a, b int32) int {
			return cmp.Or(cmp.Compare(spans[a].Start, spans[b].Start), cmp.Compare(a, b))
		})
	}
	d.inferKinds(spans)
}

func (d *Diagnoser) children(i int32) []int32 { return d.kids[d.kidOff[i]:d.kidOff[i+1]] }

// root picks the trace's root: a parentless span (the longest if several),
// else the longest orphan.
func (d *Diagnoser) root(spans []Span, p *Problems) int {
	best, bestTrue := -1, false
	for _, i := range d.order {
		if d.parent[i] >= 0 {
			break // the order lists all parentless spans first
		}
		s := &spans[i]
		isTrue := s.Parent.IsEmpty()
		if isTrue && bestTrue {
			p.ExtraRoots++
		}
		switch {
		case best < 0, isTrue && !bestTrue:
		case isTrue != bestTrue:
			continue
		case s.duration() > spans[best].duration():
		case s.duration() == spans[best].duration() && s.Start < spans[best].Start:
		default:
			continue
		}
		best, bestTrue = int(i), isTrue
	}
	return best
}

// exclusive computes each span's time not covered by its children, clipping
// children to their parent's time.
func (d *Diagnoser) exclusive(spans []Span, out []time.Duration, p *Problems) {
	for i := range spans {
		if d.ignored[i] {
			out[i] = -1
			continue
		}
		s := &spans[i]
		covered, cursor := int64(0), s.Start
		for _, c := range d.children(int32(i)) {
			cs, ce := spans[c].Start, spans[c].End
			if cs < s.Start || ce > s.End {
				p.OutsideParent++
			}
			cs, ce = max(cs, cursor), min(ce, s.End)
			if ce > cs {
				covered += ce - cs
				cursor = ce
			}
		}
		out[i] = time.Duration(s.duration() - covered)
	}
}

// errorOrigin returns the deepest failed span whose children did not fail and
// whose failure reaches the highest failed span, the earliest on a tie.
func (d *Diagnoser) errorOrigin(spans []Span) int {
	topDepth := int32(-1)
	for _, i := range d.order {
		if d.failed[i] {
			topDepth = d.depth[i]
			break
		}
	}
	best := -1
	for _, i := range d.order {
		if !d.failed[i] || slices.ContainsFunc(d.children(i), func(c int32) bool { return d.failed[c] }) {
			continue
		}
		// The failure reaches up to the highest failed ancestor that no
		// span in between says it handled: a span that reports nothing (no
		// status, no HTTP code, as with many Java agents or telemetry
		// recorded without attributes) passes it on, since its failure
		// shows only in the logs of the services above.
		top := i
		for p := d.parent[i]; p >= 0; p = d.parent[p] {
			if d.failed[p] {
				top = p
			} else if spans[p].succeeded() {
				break
			}
		}
		if d.depth[top] != topDepth {
			continue // a failure handled on the way up
		}
		if best < 0 || d.depth[i] > d.depth[best] ||
			(d.depth[i] == d.depth[best] && spans[i].Start < spans[best].Start) {
			best = int(i)
		}
	}
	return best
}

// serverChild returns a server (or consumer) span called by the outbound span i, or -1.
func (d *Diagnoser) serverChild(spans []Span, i int32) int32 {
	for _, c := range d.children(i) {
		if k := spans[c].Kind; k == ptrace.SpanKindServer || k == ptrace.SpanKindConsumer {
			return c
		}
	}
	return -1
}

// topBreach returns the highest breaching server span.
func (d *Diagnoser) topBreach(spans []Span) int32 {
	for _, i := range d.order {
		if d.breached[i] {
			return i
		}
	}
	return -1
}

// latencyCulprit walks the critical path below from and returns the span
// that explains most of the delay, by service. A span's excess is its
// exclusive critical-path time over its typical exclusive time. The excess of
// a call that the callee's own span does not cover (the network, the
// callee's connection queue, a delay on the callee's pod) goes to the
// callee, and half of it to the caller: a delay on one pod slows both the
// calls into it and the calls out of it, so its service collects the most,
// while a slow callee still wins over the caller that waits for it.
func (d *Diagnoser) latencyCulprit(spans []Span, from int32, b Baselines) int32 {
	if from < 0 {
		return -1
	}
	d.tmp = d.tmp[:0]
	d.criticalPath(spans, from, spans[from].End)
	// Its own blames, in a scratch of their own: the parts' blames
	// (blameParts) are read after it, for the delay beside a failure.
	parts := d.blames
	d.blames = d.pathBlames[:0]
	defer func() { d.pathBlames, d.blames = d.blames, parts }()
	for _, i := range d.tmp {
		s := &spans[i]
		excess := d.cpSelf[i]
		if typ, ok := b.Typical(s.Service, s.Name); ok {
			excess -= int64(typ)
		}
		if excess <= 0 {
			continue
		}
		if callee := d.serverChild(spans, i); callee >= 0 && s.outbound() && spans[callee].Service != s.Service {
			d.blame(spans, callee, excess)
			d.blame(spans, i, excess/2)
			continue
		}
		d.blame(spans, i, excess)
	}
	best := -1
	for k := range d.blames {
		if best < 0 || d.blames[k].total > d.blames[best].total {
			best = k
		}
	}
	if best < 0 {
		// Nothing over its typical time: the longest exclusive time on the path.
		top, topSelf := int32(-1), int64(0)
		for _, i := range d.tmp {
			if top < 0 || d.cpSelf[i] > topSelf {
				top, topSelf = i, d.cpSelf[i]
			}
		}
		return top
	}
	return d.blames[best].span
}

// serviceBlame is the excess a service explains in one trace, and its span
// that explains the most of it.
type serviceBlame struct {
	service     string
	total, most int64
	span        int32
}

func (d *Diagnoser) blame(spans []Span, i int32, excess int64) {
	svc := spans[i].Service
	for k := range d.blames {
		if b := &d.blames[k]; b.service == svc {
			b.total += excess
			if excess > b.most {
				b.most, b.span = excess, i
			}
			return
		}
	}
	d.blames = append(d.blames, serviceBlame{service: svc, total: excess, most: excess, span: i})
}

// criticalPath appends the spans on the critical path of i (ending at end) to
// d.tmp and sets their exclusive critical-path time: walking back from the
// end, the last child to finish before the cursor is what the span waited for.
func (d *Diagnoser) criticalPath(spans []Span, i int32, end int64) {
	s := &spans[i]
	d.onPath[i] = true
	d.tmp = append(d.tmp, i)
	kids := d.children(i)
	cursor, self := end, int64(0)
	for cursor > s.Start {
		next, nextEnd := int32(-1), int64(0)
		for _, c := range kids {
			cs, ce := max(spans[c].Start, s.Start), min(spans[c].End, s.End)
			if ce <= cursor && ce > cs && (next < 0 || ce > nextEnd) {
				next, nextEnd = c, ce
			}
		}
		if next < 0 {
			break
		}
		self += cursor - nextEnd
		d.criticalPath(spans, next, nextEnd)
		cursor = max(spans[next].Start, s.Start)
		kids = kidsBefore(spans, kids, cursor)
	}
	self += max(0, cursor-s.Start)
	d.cpSelf[i] = self
}

// kidsBefore keeps the children (sorted by start) that start before t.
func kidsBefore(spans []Span, kids []int32, t int64) []int32 {
	n, _ := slices.BinarySearchFunc(kids, t, func(c int32, t int64) int { return cmp.Compare(spans[c].Start, t) })
	return kids[:n]
}

func appendUnique(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
