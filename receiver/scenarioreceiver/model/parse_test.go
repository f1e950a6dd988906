package model

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const valid = `
name: t
traffic:
  rate: 5
  entrypoints: [{service: a, operation: GET /a}]
dependencies: [{name: ext}]
services:
  - name: a
    pools: [{name: db}]
    operations:
      - name: GET /a
        steps:
          - call: {service: b, operation: GET /b}
          - db: {pool: db, operation: SELECT}
  - name: b
    operations:
      - name: GET /b
        steps:
          - call: {dependency: ext, operation: POST /x}
faults:
  - {kind: latency, target: {service: b}, windows: ["at 1m for 1m"], latency: {p50: 1s}}
`

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../examples/shop.yaml")
	require.NoError(t, err)
	_, err = Parse(data)
	require.NoError(t, err)
	_, err = Parse([]byte(valid))
	require.NoError(t, err)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "pools: [{name: db}]", "pools: [{name: db, sise: 3}]", "sise"},
		{"cycle", "call: {dependency: ext, operation: POST /x}", "call: {service: a, operation: GET /a}", "call graph cycle: a GET /a -> b GET /b -> a GET /a"},
		{"fault on unknown service", "target: {service: b}", "target: {service: nope}", `faults[0].target.service: unknown service "nope"`},
		{"negative rate", "rate: 5", "rate: -5", "traffic.rate: must be positive and at most 1e+06, got -5"},
		{"unparsable duration", "latency: {p50: 1s}", "latency: {p50: soon}", "p50"},
		{"unparsable window", `windows: ["at 1m for 1m"]`, `windows: ["at noon"]`, `faults[0].windows[0]: window "at noon"`},
		{"unknown operation", "operation: GET /b}", "operation: GET /c}", `services[0].operations[0].steps[0].call.operation: service "b" has no operation "GET /c"`},
		{"unknown pool", "db: {pool: db,", "db: {pool: dbx,", `services[0].operations[0].steps[1].db.pool: service "a" has no pool "dbx"`},
		{"bad error rate", "operation: SELECT}", "operation: SELECT, error_rate: 2}", "services[0].operations[0].steps[1].db.error_rate: must be in [0,1], got 2"},
		{"bad name", "name: GET /b\n", "name: getb\n", `services[1].operations[0].name: want "METHOD /route", got "getb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(valid, tt.old, tt.new, 1)
			require.NotEqual(t, valid, src)
			_, err := Parse([]byte(src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSpanBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: fan\ntraffic: {rate: 1, entrypoints: [{service: s0, operation: GET /x}]}\nservices:\n")
	for i := range 10 {
		b.WriteString("  - name: s" + string(rune('0'+i)) + "\n    operations:\n      - name: GET /x\n")
		if i < 9 {
			next := string(rune('0' + i + 1))
			b.WriteString("        steps:\n          - call: {service: s" + next + ", operation: GET /x}\n            retries: 3\n")
		}
	}
	_, err := Parse([]byte(b.String()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "traffic.entrypoints[0]: a request to s0 GET /x can make up to")
}
