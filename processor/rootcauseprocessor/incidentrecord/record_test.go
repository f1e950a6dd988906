package incidentrecord

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestARecordReadsBackAsWritten(t *testing.T) {
	at := time.Date(2026, 12, 1, 14, 0, 8, 0, time.UTC)
	want := Record{
		ID: "99bde86d8f1e4c2a9d3b5a7c6e0f1a2b", Status: StatusOpen, Kind: "error",
		Service: "payment", Operation: "gateway.authenticate", Dependency: "sqlite",
		Reason: "database connection timeout", Summary: "Incident 99bde86d open: payment", At: at,
		Confidence: 0.97, Share: 0.4, TraceCount: 5,
		Candidates: []Candidate{{"payment", 0.91, "started the failure or delay in 5 of 5 traces"}, {"order", 0.2, "failed in 5 of 5 traces"}},
		TraceIDs:   []string{"da096cc95f6fab3c7e7c786599dd7a55"}, SpanIDs: []string{"0102030405060708"},
		Affected: []string{"order"}, Evidence: []string{"payment: Database connection timeout."},
		WindowStart: at.Add(-8 * time.Second), WindowEnd: at,
	}
	lr := plog.NewLogRecord()
	want.Write(lr)
	assert.True(t, Is(lr))
	got, err := Read(lr)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestAReadNamesWhatARecordLacks(t *testing.T) {
	lr := plog.NewLogRecord()
	lr.SetEventName(EventName)
	_, err := Read(lr)
	require.ErrorContains(t, err, "without rca.incident.id")
	lr.Attributes().PutStr(AttrID, "x")
	_, err = Read(lr)
	require.ErrorContains(t, err, "without rca.culprit.service")
}

func TestAllYieldsTheIncidentRecordsOnly(t *testing.T) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("GET /orders 200") // an application log
	Record{ID: "a", Service: "payment"}.Write(lrs.AppendEmpty())
	lrs.AppendEmpty().SetEventName(EventName) // without an ID
	var ids []string
	var errs int
	for r, err := range All(ld) {
		if err != nil {
			errs++
			continue
		}
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"a"}, ids)
	assert.Equal(t, 1, errs)
}

func TestAnIncidentsOpenAndResolvedRecordsAreOneDocumentEach(t *testing.T) {
	at := time.Date(2026, 12, 1, 14, 0, 8, 0, time.UTC)
	r := Record{ID: "99bde86d8f1e4c2a9d3b5a7c6e0f1a2b", Status: StatusOpen, At: at}
	docID := func(r Record) string {
		lr := plog.NewLogRecord()
		r.Write(lr)
		v, _ := lr.Attributes().Get(AttrDocumentID)
		return v.Str()
	}
	open := docID(r)
	r.At = at.Add(time.Second) // sent again by a retry, or by another collector
	assert.Equal(t, open, docID(r), "the same open record, whenever it is sent")

	r.Status = StatusUpdate
	first := docID(r)
	r.At = at.Add(30 * time.Second)
	assert.NotEqual(t, first, docID(r), "each update is a document of its own")
	assert.NotEqual(t, open, first)

	r.Status = StatusResolved
	assert.Equal(t, "99bde86d8f1e4c2a9d3b5a7c6e0f1a2b-resolved", docID(r))
}
