package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
)

// maxLogsPerTrace bounds the log messages kept per trace.
const maxLogsPerTrace = 16

// logEvidence keeps the messages of trace-linked logs (severity INFO and
// above) until their trace is diagnosed. It is bounded by trace count; the
// oldest trace's messages are forgotten first.
type logEvidence struct {
	mu      sync.Mutex
	max     int
	byTrace map[pcommon.TraceID][]diagnosis.Log
	ring    []pcommon.TraceID
	pos     int
}

func newLogEvidence(maxTraces int) *logEvidence {
	return &logEvidence{max: maxTraces, byTrace: map[pcommon.TraceID][]diagnosis.Log{}}
}

// add records the evidence in ld and returns how many traces' evidence it forgot.
func (e *logEvidence) add(ld plog.Logs) int64 {
	var evicted int64
	e.mu.Lock()
	defer e.mu.Unlock()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		service := ""
		if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
			service = v.Str()
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				id := lr.TraceID()
				if id.IsEmpty() || lr.SeverityNumber() < plog.SeverityNumberInfo {
					continue
				}
				l := diagnosis.Log{Service: service, SpanID: lr.SpanID(), Severity: lr.SeverityNumber(), Body: lr.Body().AsString()}
				evicted += e.put(id, l)
			}
		}
	}
	return evicted
}

func (e *logEvidence) put(id pcommon.TraceID, l diagnosis.Log) int64 {
	logs, ok := e.byTrace[id]
	if ok {
		if len(logs) < maxLogsPerTrace {
			e.byTrace[id] = append(logs, l)
			return 0
		}
		// A full trace keeps its most severe records: a chatty service's
		// INFO lines must not crowd out the one ERROR that says what failed.
		lowest := 0
		for i := range logs {
			if logs[i].Severity < logs[lowest].Severity {
				lowest = i
			}
		}
		if l.Severity > logs[lowest].Severity {
			logs = append(logs[:lowest], logs[lowest+1:]...)
			e.byTrace[id] = append(logs, l)
		}
		return 0
	}
	var evicted int64
	if len(e.ring) < e.max {
		e.ring = append(e.ring, id)
	} else {
		old := e.ring[e.pos]
		if _, ok := e.byTrace[old]; ok {
			delete(e.byTrace, old)
			evicted = 1
		}
		e.ring[e.pos] = id
		e.pos = (e.pos + 1) % e.max
	}
	e.byTrace[id] = []diagnosis.Log{l}
	return evicted
}

// take returns and forgets the evidence of a trace.
func (e *logEvidence) take(id pcommon.TraceID) []diagnosis.Log {
	e.mu.Lock()
	defer e.mu.Unlock()
	logs := e.byTrace[id]
	delete(e.byTrace, id)
	return logs
}
