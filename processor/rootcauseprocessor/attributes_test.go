package rootcauseprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The outcome a span's attributes state reaches the diagnosis whatever type
// the instrumentation gave it: an HTTP status, a gRPC status (0 is OK, and
// present), none.
func TestSpanStatusCodesAreRead(t *testing.T) {
	s := ptrace.NewSpan()
	s.Attributes().PutStr("http.response.status_code", "503")
	s.Attributes().PutInt("rpc.grpc.status_code", 14)
	d := toSpan(s, "cart")
	assert.Equal(t, int64(503), d.HTTPStatus)
	assert.Equal(t, int64(14), d.GRPCStatus)
	assert.True(t, d.HasGRPCStatus)

	ok := ptrace.NewSpan()
	ok.Attributes().PutInt("rpc.grpc.status_code", 0)
	d = toSpan(ok, "cart")
	assert.True(t, d.HasGRPCStatus, "OK is a status")
	assert.Zero(t, d.GRPCStatus)

	assert.False(t, toSpan(ptrace.NewSpan(), "cart").HasGRPCStatus)
}
