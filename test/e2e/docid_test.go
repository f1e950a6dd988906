package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// bulkDoc is a document an Elasticsearch _bulk request carried: its action's
// document ID, and its source.
type bulkDoc struct {
	id     string
	source map[string]any
}

// fakeElasticsearch answers the Elasticsearch exporter as a cluster would
// and records the documents of its bulk requests.
type fakeElasticsearch struct {
	mu   sync.Mutex
	docs []bulkDoc
}

func (f *fakeElasticsearch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		fmt.Fprint(w, `{"version":{"number":"8.17.0"},"tagline":"You Know, for Search"}`)
		return
	}
	var items []string
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var action map[string]map[string]any
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() {
			http.Error(w, "want action and source lines", http.StatusBadRequest)
			return
		}
		var source map[string]any
		if err := json.Unmarshal(sc.Bytes(), &source); err != nil {
			http.Error(w, "source: "+err.Error(), http.StatusBadRequest)
			return
		}
		for op, meta := range action {
			id, _ := meta["_id"].(string)
			f.mu.Lock()
			f.docs = append(f.docs, bulkDoc{id: id, source: source})
			f.mu.Unlock()
			items = append(items, fmt.Sprintf(`{%q:{"_index":"logs-rca.incidents-default","status":201}}`, op))
		}
	}
	fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
}

func (f *fakeElasticsearch) incidentDocs() []bulkDoc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bulkDoc
	for _, d := range f.docs {
		if d.source["event_name"] == "rca.incident" {
			out = append(out, d)
		}
	}
	return out
}

// TestAnIncidentRecordSentTwiceIsOneDocument: the shipped configuration
// indexes an incident record under its document ID, so that Elasticsearch
// stores a record sent twice (a retry after an outage, a restart, another
// collector of the same incident) once.
func TestAnIncidentRecordSentTwiceIsOneDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built collector")
	}
	es := &fakeElasticsearch{}
	srv := httptest.NewServer(es)
	defer srv.Close()
	dir := t.TempDir()
	c := newShippedCollector(t, dir, srv.URL, filepath.Join(dir, "storage"))
	c.start(t)

	// An incident record as the processor writes it (its incidentrecord
	// package; this module does not depend on the processor's), with what
	// the exporter needs of it.
	const incidentID = "99bde86d8f1e4c2a9d3b5a7c6e0f1a2b"
	send := func(status string, at time.Time) {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "otelcol-rca")
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName("rca.incident")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		lr.Body().SetStr("Incident 99bde86d " + status + ": payment")
		lr.Attributes().PutStr("rca.incident.id", incidentID)
		lr.Attributes().PutStr("rca.incident.status", status)
		lr.Attributes().PutStr("elasticsearch.document_id", incidentID+"-"+status)
		c.postLogs(t, ld)
	}
	now := time.Now()
	send("open", now)
	send("open", now.Add(time.Second)) // the same open record, sent again
	send("resolved", now.Add(time.Minute))

	var docs []bulkDoc
	require.Eventually(t, func() bool { docs = es.incidentDocs(); return len(docs) == 3 },
		30*time.Second, 100*time.Millisecond, "the three records reach Elasticsearch; the collector's log: %s", c.log)
	ids := map[string]int{}
	for _, d := range docs {
		ids[d.id]++
		assert.NotContains(t, d.source, "attributes.elasticsearch.document_id", "the ID is the document's, not a field of it")
		if attrs, ok := d.source["attributes"].(map[string]any); ok {
			assert.NotContains(t, attrs, "elasticsearch.document_id")
		}
	}
	assert.Equal(t, map[string]int{
		incidentID + "-open":     2, // Elasticsearch refuses the second with 409: stored once
		incidentID + "-resolved": 1,
	}, ids)
}
