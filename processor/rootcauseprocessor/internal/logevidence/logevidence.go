// Package logevidence keeps, for each trace until it is diagnosed, what its
// trace-linked log records tell the diagnosis: their messages, the most
// severe first, and the log templates each span wrote (its pattern). It is
// bounded by trace count and safe for concurrent use.
package logevidence // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logevidence"

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/logtemplate"
)

// maxLogsPerTrace bounds the log messages kept per trace.
const maxLogsPerTrace = 16

// maxTemplatesPerSpan bounds the distinct log templates remembered per span:
// the span's log pattern.
const maxTemplatesPerSpan = 16

// Evidence keeps, for each trace until it is diagnosed, the messages of its
// trace-linked logs (severity INFO and above, the most severe first) and the
// pattern of each of its spans: the templates of every record that names it.
// It is bounded by trace count; the oldest trace's are forgotten first.
//
// It also keeps, for each service, the times of the oldest and the newest
// span-linked records received: a span that no record names, while its
// service's records from before it began and from after it ended have come,
// wrote nothing (see WroteNothing).
type Evidence struct {
	mu        sync.Mutex
	templates *logtemplate.Miner
	byTrace   *bounded.FIFO[pcommon.TraceID, *traceEvidence]
	evicted   bounded.Tally
	// logged is the span of time each service's span-linked records
	// cover; anyLogged whether it holds any (so that a deployment without
	// logs never takes the lock for it).
	logged    *bounded.FIFO[string, *loggedSpan]
	anyLogged atomic.Bool
}

// loggedSpan is what is known of a service's span-linked records: the time
// of the oldest received (event time, Unix ns), and the seconds of the
// recent ones, a bit a second.
type loggedSpan struct {
	from    int64
	seconds [recentSeconds / 64]uint64
	newest  int64 // the second of the highest bit: seconds holds newest-recentSeconds+1..newest
}

// recentSeconds is how far back the seconds with records are known: more
// than a decision waits.
const recentSeconds = 256

func (l *loggedSpan) setSecond(sec int64) {
	if sec > l.newest {
		if sec-l.newest >= recentSeconds {
			l.seconds = [recentSeconds / 64]uint64{}
		} else {
			for s := l.newest + 1; s <= sec; s++ {
				l.clear(s)
			}
		}
		l.newest = sec
	}
	if sec > l.newest-recentSeconds {
		i := uint64(sec) % recentSeconds
		l.seconds[i/64] |= 1 << (i % 64)
	}
}

func (l *loggedSpan) clear(sec int64) {
	i := uint64(sec) % recentSeconds
	l.seconds[i/64] &^= 1 << (i % 64)
}

// anyIn tells whether a record fell in one of the seconds from..to.
func (l *loggedSpan) anyIn(from, to int64) bool {
	for sec := max(from, l.newest-recentSeconds+1); sec <= min(to, l.newest); sec++ {
		i := uint64(sec) % recentSeconds
		if l.seconds[i/64]&(1<<(i%64)) != 0 {
			return true
		}
	}
	return false
}

// maxLoggingServices bounds the services whose log streams are followed; a
// service beyond it is followed again once older ones make room, and its
// spans' silence is not known meanwhile.
const maxLoggingServices = 4096

type traceEvidence struct {
	logs []diagnosis.Log
	// templates are the distinct (span, template) pairs of the trace's
	// records: a slice, not a map, since most traces waiting here hold a few.
	templates []spanTemplate
}

type spanTemplate struct {
	span     pcommon.SpanID
	template logtemplate.ID
}

// maxTemplatesPerTrace bounds the (span, template) pairs kept per trace.
const maxTemplatesPerTrace = 256

// New returns evidence for at most maxTraces traces, whose records' templates
// templates mines.
func New(maxTraces int, templates *logtemplate.Miner) *Evidence {
	return &Evidence{
		templates: templates,
		byTrace:   bounded.NewFIFO[pcommon.TraceID, *traceEvidence](maxTraces),
		logged:    bounded.NewFIFO[string, *loggedSpan](maxLoggingServices),
	}
}

// TakeEvicted returns, and resets, the traces whose evidence was forgotten
// for room.
func (e *Evidence) TakeEvicted() int64 { return e.evicted.Take() }

// Add records the evidence in ld.
func (e *Evidence) Add(ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		service := ""
		if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
			service = v.Str()
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				id := lr.TraceID()
				if id.IsEmpty() || lr.SeverityNumber() < plog.SeverityNumberInfo {
					continue
				}
				l := diagnosis.Log{Service: service, SpanID: lr.SpanID(), Severity: lr.SeverityNumber(), Body: lr.Body().AsString()}
				var template logtemplate.ID
				if !l.SpanID.IsEmpty() && l.Severity < plog.SeverityNumberError {
					// Mined outside the lock: the miner has its own.
					if at := codeLocation(lr.Attributes()); at != "" {
						template, _ = e.templates.Statement(at, l.Body)
					} else {
						template, _ = e.templates.Template(l.Body)
					}
				}
				e.mu.Lock()
				e.put(id, l, template)
				if !l.SpanID.IsEmpty() {
					e.note(service, recordTime(lr))
				}
				e.mu.Unlock()
			}
		}
	}
}

func (e *Evidence) put(id pcommon.TraceID, l diagnosis.Log, template logtemplate.ID) {
	te, ok := e.byTrace.Get(id)
	if !ok {
		te = &traceEvidence{}
		if _, forgot := e.byTrace.Put(id, te); forgot {
			e.evicted.Add(1)
		}
	}
	te.addLog(l)
	if st := (spanTemplate{l.SpanID, template}); template != 0 && len(te.templates) < maxTemplatesPerTrace && !slices.Contains(te.templates, st) {
		te.templates = append(te.templates, st)
	}
}

// codeLocation is the log statement a record names by its code.*
// attributes (the semantic conventions' names, and those before 1.30): its
// file, else its function, and its line; "" without a line (a function
// holds many statements).
func codeLocation(attrs pcommon.Map) string {
	line, ok := attrs.Get("code.line.number")
	if !ok {
		if line, ok = attrs.Get("code.lineno"); !ok {
			return ""
		}
	}
	where := ""
	for _, k := range [...]string{"code.file.path", "code.filepath", "code.function.name"} {
		if v, ok := attrs.Get(k); ok && v.Str() != "" {
			where = v.Str()
			break
		}
	}
	if where == "" {
		ns, _ := attrs.Get("code.namespace")
		fn, _ := attrs.Get("code.function")
		where = ns.Str() + "." + fn.Str()
		if where == "." {
			return ""
		}
	}
	return where + ":" + line.AsString()
}

// note notes that service wrote a span-linked record at t.
func (e *Evidence) note(service string, t int64) {
	l, ok := e.logged.Get(service)
	if !ok {
		l = &loggedSpan{from: t, newest: t / int64(time.Second)}
		e.logged.Put(service, l)
		e.anyLogged.Store(true)
	}
	l.from = min(l.from, t)
	l.setSecond(t / int64(time.Second))
}

// recordTime is when a record happened: its timestamp, else when it was
// observed (0 when neither is set).
func recordTime(lr plog.LogRecord) int64 {
	if t := lr.Timestamp(); t != 0 {
		return int64(t)
	}
	return int64(lr.ObservedTimestamp())
}

// WroteNothing tells whether a span of service that no record names, from
// start to end (event time, Unix ns), is known to have written nothing: the
// service's span-linked records from before it began have come, and one
// from the second it ended or the wait after it (the time a decision
// waits). Without a record that soon after, the span's own may still be on
// their way (logs and traces travel in separate pipelines and batches);
// without earlier ones, the service's records were not collected yet (a log
// pipeline that started after the traces', a recording without logs at
// first). Either way its silence is not known. Both are read in event
// time, so the answer is the same however the telemetry was batched, once
// what came within the wait has come.
func (e *Evidence) WroteNothing(service string, start, end int64, wait time.Duration) bool {
	if !e.anyLogged.Load() {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.logged.Get(service)
	return ok && l.from < start && l.anyIn(end/int64(time.Second), (end+int64(wait))/int64(time.Second))
}

// addLog keeps l among the trace's most severe records: a chatty service's
// INFO lines must not crowd out the one ERROR that says what failed.
func (te *traceEvidence) addLog(l diagnosis.Log) {
	if len(te.logs) < maxLogsPerTrace {
		te.logs = append(te.logs, l)
		return
	}
	lowest := 0
	for i := range te.logs {
		if te.logs[i].Severity < te.logs[lowest].Severity {
			lowest = i
		}
	}
	if l.Severity > te.logs[lowest].Severity {
		te.logs = append(te.logs[:lowest], te.logs[lowest+1:]...)
		te.logs = append(te.logs, l)
	}
}

// Take returns and forgets the evidence of a trace: its logs, and the
// templates each of its spans logged.
func (e *Evidence) Take(id pcommon.TraceID) ([]diagnosis.Log, map[pcommon.SpanID][]logtemplate.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	te, ok := e.byTrace.Get(id)
	if !ok {
		return nil, nil
	}
	e.byTrace.Delete(id)
	if len(te.templates) == 0 {
		return te.logs, nil
	}
	patterns := map[pcommon.SpanID][]logtemplate.ID{}
	for _, st := range te.templates {
		if ids := patterns[st.span]; len(ids) < maxTemplatesPerSpan {
			patterns[st.span] = append(ids, st.template)
		}
	}
	return te.logs, patterns
}
