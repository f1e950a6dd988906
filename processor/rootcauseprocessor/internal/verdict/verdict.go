// Package verdict is the stream from rootcause shards to the incident stage
// (processor mode shard → mode incidents): one rca.verdict log record per
// anomalous trace a shard diagnosed, and rca.traffic records that count each
// service's traces, the denominators of the incidents' shares. It is small
// against the spans it summarizes, and it travels as OTLP logs, so that the
// collector's exporters, queues and retries carry it.
package verdict // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/verdict"

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/attrvalue"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/diagnosis"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/exemplar"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

const (
	// ScopeName is the instrumentation scope of the stream's records: the
	// incident stage takes the records of this scope out of its logs.
	ScopeName = "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/verdict"
	// EventVerdict names a record of one anomalous trace.
	EventVerdict = "rca.verdict"
	// EventTraffic names a record of one service's traffic.
	EventTraffic = "rca.traffic"
)

// Verdict is a shard's diagnosis of one anomalous trace.
type Verdict struct {
	// At is the shard's event time of the decision.
	At time.Time
	// Observations are the trace's anomalies, the first being the one the
	// trace is tagged with (incident.Store.Record's o, then also).
	Observations []incident.Observation
	// Changed lists the culprits whose change held on the shard when it
	// decided (the store's Changed test, judged where the traces are).
	Changed []string
	// Path is what the stage's exemplars need of the trace; nil when none.
	Path exemplar.Path
}

// Traffic counts a service's traces decided by a shard since its previous
// Traffic record.
type Traffic struct {
	At      time.Time
	Service string
	Traces  int64
	Normal  int64
	// Changed is true when the service's change held on the shard at At.
	Changed bool
}

// Writer appends records to one scope of a batch of logs.
type Writer struct {
	ld plog.Logs
	sl plog.ScopeLogs
}

// NewWriter returns a Writer for a new batch whose resource carries the
// non-empty resourceAttrs.
func NewWriter(resourceAttrs map[string]string) *Writer {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for k, v := range resourceAttrs {
		if v != "" {
			rl.Resource().Attributes().PutStr(k, v)
		}
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	return &Writer{ld: ld, sl: sl}
}

// Len is the number of records written.
func (w *Writer) Len() int { return w.sl.LogRecords().Len() }

// Logs returns the batch written so far.
func (w *Writer) Logs() plog.Logs { return w.ld }

// Verdict appends v.
func (w *Writer) Verdict(v Verdict) {
	lr := w.record(EventVerdict, v.At)
	if len(v.Observations) > 0 {
		lr.SetTraceID(v.Observations[0].TraceID)
		lr.SetSpanID(v.Observations[0].CulpritSpanID)
	}
	body := lr.Body().SetEmptyMap()
	obs := body.PutEmptySlice("observations")
	for i := range v.Observations {
		encodeObservation(obs.AppendEmpty().SetEmptyMap(), &v.Observations[i])
	}
	putStrs(body, "changed", v.Changed)
	if v.Path != nil {
		v.Path.Encode(body.PutEmptySlice("path"))
	}
}

// Traffic appends t.
func (w *Writer) Traffic(t Traffic) {
	lr := w.record(EventTraffic, t.At)
	body := lr.Body().SetEmptyMap()
	body.PutStr("service", t.Service)
	body.PutInt("traces", t.Traces)
	body.PutInt("normal", t.Normal)
	body.PutBool("changed", t.Changed)
}

func (w *Writer) record(event string, at time.Time) plog.LogRecord {
	lr := w.sl.LogRecords().AppendEmpty()
	lr.SetEventName(event)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at))
	return lr
}

// Read is what Extract took out of a batch.
type Read struct {
	Verdicts []Verdict
	Traffic  []Traffic
	// Refused counts the records of the stream that could not be read,
	// removed all the same; Errors says why (the first few).
	Refused int
	Errors  []error
}

// maxErrors bounds the decoding errors Extract reports per batch.
const maxErrors = 3

// Extract removes the stream's records (those of scope ScopeName) from ld and
// decodes them. The rest of ld is left as it was.
func Extract(ld plog.Logs) Read {
	var out Read
	refuse := func(err error) {
		out.Refused++
		if len(out.Errors) < maxErrors {
			out.Errors = append(out.Errors, err)
		}
	}
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			if sl.Scope().Name() != ScopeName {
				return false
			}
			for _, lr := range sl.LogRecords().All() {
				at := lr.Timestamp().AsTime()
				switch lr.EventName() {
				case EventVerdict:
					v, err := decodeVerdict(lr, at)
					if err != nil {
						refuse(err)
						continue
					}
					out.Verdicts = append(out.Verdicts, v)
				case EventTraffic:
					t, err := decodeTraffic(lr, at)
					if err != nil {
						refuse(err)
						continue
					}
					out.Traffic = append(out.Traffic, t)
				default:
					refuse(fmt.Errorf("unknown event %q in scope %s", lr.EventName(), ScopeName))
				}
			}
			return true
		})
		return rl.ScopeLogs().Len() == 0
	})
	return out
}

func decodeVerdict(lr plog.LogRecord, at time.Time) (Verdict, error) {
	v := Verdict{At: at}
	if lr.Body().Type() != pcommon.ValueTypeMap {
		return v, fmt.Errorf("%s: body is a %s, not a map", EventVerdict, lr.Body().Type())
	}
	body := lr.Body().Map()
	obs, ok := body.Get("observations")
	if !ok || obs.Type() != pcommon.ValueTypeSlice || obs.Slice().Len() == 0 {
		return v, fmt.Errorf("%s: no observations", EventVerdict)
	}
	for i := 0; i < obs.Slice().Len(); i++ {
		e := obs.Slice().At(i)
		if e.Type() != pcommon.ValueTypeMap {
			return v, fmt.Errorf("%s: observation %d is a %s, not a map", EventVerdict, i, e.Type())
		}
		o, err := decodeObservation(e.Map())
		if err != nil {
			return v, fmt.Errorf("%s: observation %d: %w", EventVerdict, i, err)
		}
		v.Observations = append(v.Observations, o)
	}
	v.Changed = attrvalue.Strs(body, "changed")
	if p, ok := body.Get("path"); ok && p.Type() == pcommon.ValueTypeSlice {
		path, err := exemplar.DecodePath(v.Observations[0].TraceID, p.Slice())
		if err != nil {
			return v, fmt.Errorf("%s: %w", EventVerdict, err)
		}
		v.Path = path
	}
	return v, nil
}

func decodeTraffic(lr plog.LogRecord, at time.Time) (Traffic, error) {
	t := Traffic{At: at}
	if lr.Body().Type() != pcommon.ValueTypeMap {
		return t, fmt.Errorf("%s: body is a %s, not a map", EventTraffic, lr.Body().Type())
	}
	m := lr.Body().Map()
	t.Service = attrvalue.Str(m, "service")
	t.Traces, t.Normal = attrvalue.IntOf(m, "traces"), attrvalue.IntOf(m, "normal")
	if v, ok := m.Get("changed"); ok {
		t.Changed = v.Bool()
	}
	if t.Service == "" || t.Traces < 0 || t.Normal < 0 || t.Normal > t.Traces {
		return t, fmt.Errorf("%s: service %q with %d traces, %d normal", EventTraffic, t.Service, t.Traces, t.Normal)
	}
	return t, nil
}

func encodeObservation(m pcommon.Map, o *incident.Observation) {
	m.PutStr("trace_id", hex.EncodeToString(o.TraceID[:]))
	m.PutStr("culprit_span_id", hex.EncodeToString(o.CulpritSpanID[:]))
	m.PutInt("start", o.Start.UnixNano())
	m.PutInt("end", o.End.UnixNano())
	m.PutStr("kind", o.Kind.String())
	m.PutStr("service", o.CulpritService)
	m.PutStr("operation", o.CulpritOperation)
	m.PutStr("dependency", o.Dependency)
	m.PutStr("reason", o.Reason)
	m.PutBool("reason_from_logs", o.ReasonFromLogs)
	m.PutBool("chronic", o.Chronic)
	cands := m.PutEmptySlice("candidates")
	for _, c := range o.Candidates {
		cm := cands.AppendEmpty().SetEmptyMap()
		cm.PutStr("name", c.Name)
		cm.PutDouble("score", c.Score)
		cm.PutInt("evidence", int64(c.Evidence))
	}
	putStrs(m, "affected", o.Affected)
	putStrs(m, "callers", o.Callers)
	putStrs(m, "evidence", o.Evidence)
}

func decodeObservation(m pcommon.Map) (incident.Observation, error) {
	var o incident.Observation
	if err := decodeID(o.TraceID[:], attrvalue.Str(m, "trace_id")); err != nil || o.TraceID.IsEmpty() {
		return o, fmt.Errorf("trace_id %q is not 32 hex digits", attrvalue.Str(m, "trace_id"))
	}
	if err := decodeID(o.CulpritSpanID[:], attrvalue.Str(m, "culprit_span_id")); err != nil {
		return o, fmt.Errorf("culprit_span_id %q is not 16 hex digits", attrvalue.Str(m, "culprit_span_id"))
	}
	o.Start, o.End = time.Unix(0, attrvalue.IntOf(m, "start")).UTC(), time.Unix(0, attrvalue.IntOf(m, "end")).UTC()
	if o.End.Before(o.Start) {
		return o, fmt.Errorf("end %s before start %s", o.End, o.Start)
	}
	switch k := attrvalue.Str(m, "kind"); k {
	case diagnosis.KindError.String():
		o.Kind = diagnosis.KindError
	case diagnosis.KindLatency.String():
		o.Kind = diagnosis.KindLatency
	default:
		return o, fmt.Errorf("kind %q is neither %s nor %s", k, diagnosis.KindError, diagnosis.KindLatency)
	}
	o.CulpritService = attrvalue.Str(m, "service")
	if o.CulpritService == "" {
		return o, errors.New("no culprit service")
	}
	o.CulpritOperation, o.Dependency, o.Reason = attrvalue.Str(m, "operation"), attrvalue.Str(m, "dependency"), attrvalue.Str(m, "reason")
	if v, ok := m.Get("reason_from_logs"); ok {
		o.ReasonFromLogs = v.Bool()
	}
	if v, ok := m.Get("chronic"); ok {
		o.Chronic = v.Bool()
	}
	if c, ok := m.Get("candidates"); ok && c.Type() == pcommon.ValueTypeSlice {
		for _, e := range c.Slice().All() {
			if e.Type() != pcommon.ValueTypeMap {
				continue
			}
			score := 0.0
			if s, ok := e.Map().Get("score"); ok {
				score = s.Double()
			}
			ev := diagnosis.Evidence(attrvalue.IntOf(e.Map(), "evidence") & diagnosis.EvidenceAll)
			o.Candidates = append(o.Candidates, diagnosis.Candidate{Name: attrvalue.Str(e.Map(), "name"), Score: min(1, max(0, score)), Evidence: ev})
		}
	}
	o.Affected, o.Callers, o.Evidence = attrvalue.Strs(m, "affected"), attrvalue.Strs(m, "callers"), attrvalue.Strs(m, "evidence")
	return o, nil
}

func decodeID(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return errors.New("wrong length")
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

// putStrs puts a non-empty list only: the reader's nil stays nil.
func putStrs(m pcommon.Map, k string, list []string) {
	if len(list) > 0 {
		attrvalue.AppendStrs(m.PutEmptySlice(k), list)
	}
}
