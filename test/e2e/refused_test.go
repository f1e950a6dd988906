package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
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
	out := map[string]float64{}
	c.series(t, "http_server_request_duration_count{", fmt.Sprintf(`server_port="%d"`, c.otlpHTTP), func(line string, v float64) {
		if _, rest, ok := strings.Cut(line, `http_response_status_code="`); ok {
			code, _, _ := strings.Cut(rest, `"`)
			out[code] += v
		}
	})
	return out
}
