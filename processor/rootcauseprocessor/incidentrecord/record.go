// Package incidentrecord is the format of the rootcause processor's incident
// records: the log records it emits when an incident opens, grows and
// resolves. One definition for the processor that writes them and for the
// components that read them (alerts, the incident page).
package incidentrecord // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"

import (
	"errors"
	"fmt"
	"iter"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/attrvalue"
)

// EventName is the event name of an incident record.
const EventName = "rca.incident"

// The attributes of an incident record (the processor's README describes
// them). AttrID and AttrCulpritService also tag the spans and logs of an
// incident.
const (
	AttrID                = "rca.incident.id"
	AttrStatus            = "rca.incident.status"
	AttrKind              = "rca.incident.kind"
	AttrStanding          = "rca.incident.standing"
	AttrCulpritService    = "rca.culprit.service"
	AttrCulpritOperation  = "rca.culprit.operation"
	AttrCulpritDependency = "rca.culprit.dependency"
	AttrReason            = "rca.reason"
	AttrConfidence        = "rca.confidence"
	AttrCandidates        = "rca.candidates"
	AttrCandidateScores   = "rca.candidate.scores"
	AttrCandidateEvidence = "rca.candidate.evidence"
	AttrTraceIDs          = "rca.trace_ids"
	AttrSpanIDs           = "rca.span_ids"
	AttrAffected          = "rca.affected.services"
	AttrEvidence          = "rca.evidence.logs"
	AttrWindowStart       = "rca.window.start"
	AttrWindowEnd         = "rca.window.end"
	AttrTraceCount        = "rca.trace_count"
	AttrTrafficShare      = "rca.traffic_share"
	// AttrCulprit marks the culprit span of an anomalous trace.
	AttrCulprit = "rca.culprit"
	// AttrDocumentID names the record for a store that keeps one document
	// per ID: the Elasticsearch exporter's logs_dynamic_id reads this
	// attribute (and leaves it out of the document in its otel mapping).
	// See DocumentID.
	AttrDocumentID = "elasticsearch.document_id"
)

// DocumentID is the ID of r's document in a store that refuses a second
// document with the same ID (Elasticsearch data streams): the incident's
// open and resolved records are one document each, whichever collector or
// retry sends them again, and each update record is a document of its own.
func DocumentID(r Record) string {
	if r.Status == StatusUpdate {
		return r.ID + "-" + r.Status + "-" + r.At.UTC().Format("20060102T150405.000000000Z")
	}
	return r.ID + "-" + r.Status
}

// The statuses of a record.
const (
	StatusOpen     = "open"
	StatusUpdate   = "update"
	StatusResolved = "resolved"
)

// Record is an incident record.
type Record struct {
	ID, Status, Kind string
	// Standing marks a standing condition: a service failing since the
	// collector started, shown but not alerted until a change is judged.
	Standing                              bool
	Service, Operation, Dependency        string
	Reason                                string
	Summary                               string // the record's one-line body
	At                                    time.Time
	Confidence, Share                     float64
	TraceCount                            int64
	Candidates                            []Candidate
	TraceIDs, SpanIDs, Affected, Evidence []string
	WindowStart, WindowEnd                time.Time
}

// Candidate is a suspect of an incident, best first, with the evidence
// against it in words.
type Candidate struct {
	Name     string
	Score    float64
	Evidence string
}

// Is tells whether lr is an incident record.
func Is(lr plog.LogRecord) bool { return lr.EventName() == EventName }

// All yields the incident records of ld, read, in order; other log records
// are skipped. A record that cannot be read comes with its error.
func All(ld plog.Logs) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if !Is(lr) {
						continue
					}
					if !yield(Read(lr)) {
						return
					}
				}
			}
		}
	}
}

// Read reads an incident record; an error names what it lacks.
func Read(lr plog.LogRecord) (Record, error) {
	a := lr.Attributes()
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	strs := func(k string) []string { return attrvalue.Strs(a, k) }
	num := func(k string) float64 {
		if v, ok := a.Get(k); ok {
			switch v.Type() {
			case pcommon.ValueTypeDouble:
				return v.Double()
			case pcommon.ValueTypeInt:
				return float64(v.Int())
			}
		}
		return 0
	}
	r := Record{
		ID: str(AttrID), Status: str(AttrStatus), Kind: str(AttrKind),
		Service: str(AttrCulpritService), Operation: str(AttrCulpritOperation), Dependency: str(AttrCulpritDependency),
		Reason: str(AttrReason), Summary: lr.Body().AsString(), At: lr.Timestamp().AsTime(),
		Confidence: num(AttrConfidence), Share: num(AttrTrafficShare), TraceCount: int64(num(AttrTraceCount)),
		TraceIDs: strs(AttrTraceIDs), SpanIDs: strs(AttrSpanIDs), Affected: strs(AttrAffected), Evidence: strs(AttrEvidence),
	}
	if v, ok := a.Get(AttrStanding); ok && v.Type() == pcommon.ValueTypeBool {
		r.Standing = v.Bool()
	}
	switch {
	case r.ID == "":
		return r, errors.New("incident record without " + AttrID)
	case r.Service == "":
		return r, fmt.Errorf("incident record %s without %s", r.ID, AttrCulpritService)
	}
	if lr.Timestamp() == 0 {
		r.At = lr.ObservedTimestamp().AsTime()
	}
	var scores pcommon.Slice
	if v, ok := a.Get(AttrCandidateScores); ok && v.Type() == pcommon.ValueTypeSlice {
		scores = v.Slice()
	}
	evidence := strs(AttrCandidateEvidence)
	for i, name := range strs(AttrCandidates) {
		c := Candidate{Name: name}
		if i < scores.Len() {
			c.Score = scores.At(i).Double()
		}
		if i < len(evidence) {
			c.Evidence = evidence[i]
		}
		r.Candidates = append(r.Candidates, c)
	}
	r.WindowStart, _ = time.Parse(time.RFC3339Nano, str(AttrWindowStart))
	r.WindowEnd, _ = time.Parse(time.RFC3339Nano, str(AttrWindowEnd))
	return r, nil
}

// Write writes r into lr: its event name, body, timestamps and attributes.
func (r Record) Write(lr plog.LogRecord) {
	lr.SetEventName(EventName)
	ts := pcommon.NewTimestampFromTime(r.At)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	lr.Body().SetStr(r.Summary)
	a := lr.Attributes()
	a.PutStr(AttrID, r.ID)
	a.PutStr(AttrStatus, r.Status)
	a.PutStr(AttrDocumentID, DocumentID(r))
	a.PutStr(AttrKind, r.Kind)
	a.PutBool(AttrStanding, r.Standing)
	a.PutStr(AttrCulpritService, r.Service)
	a.PutStr(AttrCulpritOperation, r.Operation)
	if r.Dependency != "" {
		a.PutStr(AttrCulpritDependency, r.Dependency)
	}
	a.PutStr(AttrReason, r.Reason)
	a.PutDouble(AttrConfidence, r.Confidence)
	cands, scores, evidence := a.PutEmptySlice(AttrCandidates), a.PutEmptySlice(AttrCandidateScores), a.PutEmptySlice(AttrCandidateEvidence)
	for _, c := range r.Candidates {
		cands.AppendEmpty().SetStr(c.Name)
		scores.AppendEmpty().SetDouble(c.Score)
		evidence.AppendEmpty().SetStr(c.Evidence)
	}
	attrvalue.AppendStrs(a.PutEmptySlice(AttrTraceIDs), r.TraceIDs)
	attrvalue.AppendStrs(a.PutEmptySlice(AttrSpanIDs), r.SpanIDs)
	attrvalue.AppendStrs(a.PutEmptySlice(AttrAffected), r.Affected)
	attrvalue.AppendStrs(a.PutEmptySlice(AttrEvidence), r.Evidence)
	a.PutStr(AttrWindowStart, r.WindowStart.UTC().Format(time.RFC3339Nano))
	a.PutStr(AttrWindowEnd, r.WindowEnd.UTC().Format(time.RFC3339Nano))
	a.PutInt(AttrTraceCount, r.TraceCount)
	a.PutDouble(AttrTrafficShare, r.Share)
}
