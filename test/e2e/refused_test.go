package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefusedOTLPIsCounted: OTLP requests the receiver refuses before they
// reach a pipeline (a body that does not decode, a wrong content type) are
// answered with a clear status and counted in the collector's own metrics
// at the shipped telemetry level: a client sending garbage shows up.
func TestRefusedOTLPIsCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built collector")
	}
	dir := t.TempDir()
	c := newShippedCollector(t, dir, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), filepath.Join(dir, "storage"))
	c.start(t)
	post := func(contentType, body string) int {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", c.otlpHTTP), contentType, strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusBadRequest, post("application/x-protobuf", "not a protobuf message"))
	require.Equal(t, http.StatusBadRequest, post("application/json", `{"resourceSpans": 7}`))
	require.Equal(t, http.StatusUnsupportedMediaType, post("text/plain", "spans"))

	refused := c.httpRequests(t)
	assert.Equal(t, 2, int(refused["400"]), "bodies that do not decode")
	assert.Equal(t, 1, int(refused["415"]), "wrong content type")
}

// httpRequests counts the OTLP/HTTP requests the collector answered, by
// status code, from its own metrics.
func (c *shippedCollector) httpRequests(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.telemetry))
	require.NoError(t, err)
	defer resp.Body.Close()
	port := fmt.Sprintf(`server_port="%d"`, c.otlpHTTP)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "http_server_request_duration_seconds_count{") || !strings.Contains(line, port) {
			continue
		}
		_, rest, ok := strings.Cut(line, `http_response_status_code="`)
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(rest, `"`)
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			out[code] += v
		}
	}
	return out
}
