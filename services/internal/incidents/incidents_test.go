package incidents

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const line = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"payment"}}]},"scopeLogs":[{"scope":{},"logRecords":[{"timeUnixNano":"1764057600000000000","body":{"stringValue":"ordinary log"},"attributes":[]}]}]},` +
	`{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"otelcol-rca"}}]},"scopeLogs":[{"scope":{"name":"rootcause"},"logRecords":[{"timeUnixNano":"1764057600000000000","severityText":"WARN","eventName":"rca.incident","body":{"stringValue":"Incident abc open"},"traceId":"0af7651916cd43dd8448eb211c80319c",` +
	`"attributes":[{"key":"rca.incident.id","value":{"stringValue":"abc123"}},{"key":"rca.incident.status","value":{"stringValue":"open"}},{"key":"rca.culprit.service","value":{"stringValue":"payment"}},` +
	`{"key":"rca.culprit.operation","value":{"stringValue":"POST /pay"}},{"key":"rca.reason","value":{"stringValue":"latency"}},{"key":"rca.confidence","value":{"doubleValue":0.9}},` +
	`{"key":"rca.candidates","value":{"arrayValue":{"values":[{"stringValue":"payment"},{"stringValue":"order"}]}}},{"key":"rca.trace_ids","value":{"arrayValue":{"values":[{"stringValue":"t1"},{"stringValue":"t2"}]}}},` +
	`{"key":"rca.window.start","value":{"stringValue":"2025-11-25T08:00:00Z"}},{"key":"rca.trace_count","value":{"intValue":"12"}}]}]}]}]}`

func TestParse(t *testing.T) {
	recs, err := Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1 (ordinary logs skipped)", len(recs))
	}
	r := recs[0]
	if r.ID != "abc123" || r.Status != "open" || r.Service != "payment" || r.Operation != "POST /pay" ||
		r.Confidence != 0.9 || r.TraceCount != 12 || len(r.Candidates) != 2 || len(r.TraceIDs) != 2 {
		t.Errorf("record = %+v", r)
	}
	if want := time.Date(2025, 11, 25, 8, 0, 0, 0, time.UTC); !r.WindowStart.Equal(want) {
		t.Errorf("window start = %v, want %v", r.WindowStart, want)
	}
	if _, err := Parse([]byte("{not json")); err == nil {
		t.Error("Parse accepted bad JSON")
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidents.json")
	tail := NewTail(path)
	if recs, err := tail.Read(); err != nil || len(recs) != 0 {
		t.Fatalf("missing file: %v %v", recs, err)
	}
	half := len(line) / 2
	if err := os.WriteFile(path, []byte(line[:half]), 0o644); err != nil {
		t.Fatal(err)
	}
	if recs, _ := tail.Read(); len(recs) != 0 {
		t.Fatalf("partial line parsed: %v", recs)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(line[half:] + "\n" + line + "\n")
	f.Close()
	recs, err := tail.Read()
	if err != nil || len(recs) != 2 {
		t.Fatalf("after completing the line: %d records, %v", len(recs), err)
	}
}
