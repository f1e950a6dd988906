package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

// Log attributes the processor sets on records linked to an incident.
const (
	attrMatch       = "rca.match"
	matchTrace      = "trace"
	matchTimeWindow = "time_window"
)

// decidedTraces remembers the decisions of recently decided traces for the
// logs path: a nil decision means the trace was normal.
type decidedTraces struct {
	mu      sync.RWMutex
	byID    *bounded.FIFO[pcommon.TraceID, *decision]
	evicted bounded.Tally
}

func newDecidedTraces(size int) *decidedTraces {
	return &decidedTraces{byID: bounded.NewFIFO[pcommon.TraceID, *decision](size)}
}

func (c *decidedTraces) put(id pcommon.TraceID, d *decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, forgot := c.byID.Put(id, d); forgot {
		c.evicted.Add(1)
	}
}

// openWindows is the immutable view of the open incidents the logs path
// reads, per involved service.
type openWindows struct {
	byService map[string][]incident.Window
}

func newOpenWindows(ws []incident.Window) *openWindows {
	if len(ws) == 0 {
		return nil
	}
	o := &openWindows{byService: map[string][]incident.Window{}}
	for _, w := range ws {
		for _, s := range w.Services {
			o.byService[s] = append(o.byService[s], w)
		}
	}
	return o
}

// heldLogs are resources whose records wait for their traces' decisions.
type heldLogs struct {
	mu    sync.Mutex // guards items; never taken while holding decidedTraces.mu
	items []heldItem
	// records counts the held records, reserved before they join items.
	records atomic.Int64
}

type heldItem struct {
	to *logsProcessor
	ld plog.Logs // a single ResourceLogs, in arrival order
	at time.Time // processing time it arrived
}

// logStats collects what tagging one batch did.
type logStats struct {
	trace, window int64
	// errors are matched ERROR+ records that feed their incident's evidence.
	errors []matchedError
}

type matchedError struct {
	incident, service, body string
	culprit                 bool
}

// tagResource tags the records of rl that belong to an incident: those of a
// decided anomalous trace (rca.match=trace) and WARN+ records without trace
// context of an involved service inside an open incident's window
// (rca.match=time_window). It returns the records whose trace is not decided yet.
func (p *sharedProcessor) tagResource(rl plog.ResourceLogs, now time.Time, wins *openWindows, st *logStats) (waiting int64) {
	service := ""
	if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
		service = v.Str()
	}
	var svcWins []incident.Window
	if wins != nil {
		svcWins = wins.byService[service]
	}
	sls := rl.ScopeLogs()
	for i := 0; i < sls.Len(); i++ {
		lrs := sls.At(i).LogRecords()
		for j := 0; j < lrs.Len(); j++ {
			lr := lrs.At(j)
			if id := lr.TraceID(); !id.IsEmpty() {
				d, ok := p.decided.byID.Get(id)
				switch {
				case !ok:
					waiting++
				case d != nil && !tagged(lr):
					tagLog(lr, d.incidentID, d.service, matchTrace)
					st.trace++
					st.matchedError(lr, d.incidentID, service, d.service)
				default:
				}
				continue
			}
			if len(svcWins) == 0 || lr.SeverityNumber() < plog.SeverityNumberWarn {
				continue
			}
			at := lr.Timestamp()
			if at == 0 {
				at = lr.ObservedTimestamp()
			}
			t := now
			if at != 0 {
				t = at.AsTime()
			}
			if w := latestWindow(svcWins, t); w != nil {
				tagLog(lr, w.ID, w.Culprit, matchTimeWindow)
				st.window++
				st.matchedError(lr, w.ID, service, w.Culprit)
			}
		}
	}
	return waiting
}

func (st *logStats) matchedError(lr plog.LogRecord, id, service, culprit string) {
	if lr.SeverityNumber() >= plog.SeverityNumberError {
		st.errors = append(st.errors, matchedError{incident: id, service: service, body: lr.Body().AsString(), culprit: service == culprit})
	}
}

// latestWindow returns the window containing t that ends last, nil when none does.
func latestWindow(ws []incident.Window, t time.Time) *incident.Window {
	var best *incident.Window
	for i := range ws {
		w := &ws[i]
		if t.Before(w.Start) || t.After(w.End) {
			continue
		}
		if best == nil || w.End.After(best.End) {
			best = w
		}
	}
	return best
}

func tagged(lr plog.LogRecord) bool {
	_, ok := lr.Attributes().Get(attrMatch)
	return ok
}

func tagLog(lr plog.LogRecord, id, culprit, match string) {
	a := lr.Attributes()
	a.EnsureCapacity(a.Len() + 3)
	a.PutStr(attrIncidentID, id)
	a.PutStr(attrCulpritService, culprit)
	a.PutStr(attrMatch, match)
}

// consumeLogs tags ld and moves the resources whose records wait for a trace
// decision out of it, into the held logs; the rest is to be forwarded now.
func (p *sharedProcessor) consumeLogs(ctx context.Context, l *logsProcessor, ld plog.Logs) {
	p.evidence.add(ld)
	if n := p.evidence.evicted.Take(); n > 0 {
		p.telemetry.ProcessorRootcauseCacheEvictions.Add(ctx, n, p.attrs.cache["log_evidence"])
	}
	now := p.clock.Now()
	hold := p.cfg.MaxHeldLogs > 0 && p.tracePipelines.Load() > 0
	wins := p.windows.Load()
	var st logStats
	var items []heldItem
	var overflow, heldRecords int64

	p.decided.mu.RLock()
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		waiting := p.tagResource(rl, now, wins, &st)
		if waiting == 0 || !hold {
			return false
		}
		n := rl.ScopeLogs().Len()
		records := 0
		for i := 0; i < n; i++ {
			records += rl.ScopeLogs().At(i).LogRecords().Len()
		}
		if !p.held.reserve(records, p.cfg.MaxHeldLogs) {
			overflow += waiting
			return false
		}
		heldRecords += int64(records)
		item := heldItem{to: l, ld: plog.NewLogs(), at: now}
		rl.MoveTo(item.ld.ResourceLogs().AppendEmpty())
		items = append(items, item)
		return true
	})
	p.decided.mu.RUnlock()

	if len(items) > 0 {
		p.held.mu.Lock()
		p.held.items = append(p.held.items, items...)
		p.held.mu.Unlock()
		p.telemetry.ProcessorRootcauseLogsHeld.Add(ctx, heldRecords)
	}
	if overflow > 0 {
		p.telemetry.ProcessorRootcauseLogsHeldOverflow.Add(ctx, overflow)
	}
	p.recordLogStats(ctx, &st)
}

// reserve counts n more held records unless that exceeds limit.
func (h *heldLogs) reserve(n, limit int) bool {
	for {
		cur := h.records.Load()
		if cur+int64(n) > int64(limit) {
			return false
		}
		if h.records.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

func (p *sharedProcessor) recordLogStats(ctx context.Context, st *logStats) {
	if st.trace > 0 {
		p.telemetry.ProcessorRootcauseLogsTagged.Add(ctx, st.trace, p.attrs.match[matchTrace])
	}
	if st.window > 0 {
		p.telemetry.ProcessorRootcauseLogsTagged.Add(ctx, st.window, p.attrs.match[matchTimeWindow])
	}
	for _, e := range st.errors {
		p.store.AddEvidence(e.incident, e.service+": "+e.body)
		if e.culprit {
			p.store.ImproveReason(e.incident, diagnosis.Sentence(e.body))
		}
	}
}

// releaseLogs forwards the held resources whose records' traces are all
// decided, or that waited log_wait, tagged, in arrival order, each with the
// logs pipeline it came from. only, when set, releases everything of that
// pipeline (its shutdown).
func (p *sharedProcessor) releaseLogs(ctx context.Context, now time.Time, only *logsProcessor) {
	wait := p.cfg.logWait()
	p.held.mu.Lock()
	if len(p.held.items) == 0 {
		p.held.mu.Unlock()
		return
	}
	var out []heldItem
	keep := p.held.items[:0]
	released := 0
	p.decided.mu.RLock()
	for _, it := range p.held.items {
		if it.to == only || p.allDecided(it.ld) || now.Sub(it.at) >= wait && !p.anyBuffered(it.ld) {
			out = append(out, it)
			released += it.ld.LogRecordCount()
			continue
		}
		keep = append(keep, it)
	}
	p.decided.mu.RUnlock()
	clear(p.held.items[len(keep):])
	p.held.items = keep
	p.held.records.Add(-int64(released))
	var locked []*logsProcessor
	for _, it := range out {
		if !slices.Contains(locked, it.to) {
			it.to.forwarding.RLock()
			locked = append(locked, it.to)
		}
	}
	p.held.mu.Unlock()
	defer func() {
		for _, to := range locked {
			to.forwarding.RUnlock()
		}
	}()
	if len(out) == 0 {
		return
	}
	p.telemetry.ProcessorRootcauseLogsHeld.Add(ctx, -int64(released))

	var st logStats
	batches := map[*logsProcessor]plog.Logs{}
	var order []*logsProcessor
	p.decided.mu.RLock()
	for _, it := range out {
		rl := it.ld.ResourceLogs().At(0)
		// Records without trace context were tagged on arrival; retag only the trace-linked ones.
		p.tagResource(rl, now, nil, &st)
		b, ok := batches[it.to]
		if !ok {
			b = plog.NewLogs()
			batches[it.to] = b
			order = append(order, it.to)
		}
		it.ld.ResourceLogs().MoveAndAppendTo(b.ResourceLogs())
	}
	p.decided.mu.RUnlock()
	p.recordLogStats(ctx, &st)
	for _, to := range order {
		b := batches[to]
		if err := to.next.ConsumeLogs(ctx, b); err != nil {
			n := b.LogRecordCount()
			p.telemetry.ProcessorRootcauseLogsForwardFailed.Add(ctx, int64(n))
			p.set.Logger.Warn("Forwarding held logs failed; they are lost.", zap.Int("records", n), zap.Error(err))
		}
	}
}

// allDecided tells whether every trace-linked record of ld has a decision.
// The caller holds p.decided.mu.
// anyBuffered reports whether a trace of ld still waits for its decision: its
// logs wait with it, however long its spans take to arrive (bounded by
// decision_wait after its last span, or max_traces).
func (p *sharedProcessor) anyBuffered(ld plog.Logs) bool {
	traces, _, _ := p.snapshot()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				id := lr.TraceID()
				if id.IsEmpty() {
					continue
				}
				for _, t := range traces {
					t.mu.Lock()
					buffered := t.buf.Buffered(id)
					t.mu.Unlock()
					if buffered {
						return true
					}
				}
			}
		}
	}
	return false
}

func (p *sharedProcessor) allDecided(ld plog.Logs) bool {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if id := lrs.At(k).TraceID(); !id.IsEmpty() {
					if _, ok := p.decided.byID.Get(id); !ok {
						return false
					}
				}
			}
		}
	}
	return true
}
