package distribution

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestComponentsListed(t *testing.T) {
	out, err := runCollector(t, "components")
	require.NoError(t, err, out)
	for _, name := range []string{
		"otlp", "scenario",
		"memory_limiter", "batch", "rootcause", "tail_sampling",
		"debug", "file", "prometheus", "elasticsearch", "zipkin", "loadbalancing", "incidentalert", "incidentpage",
		"health_check", "pprof", "zpages", "file_storage",
	} {
		assert.Contains(t, out, "- name: "+name+"\n", "component %s", name)
	}
}

// TestOTLPExportersPresent: at v0.148.0 `components` skips factories that
// also answer to a deprecated type (otlp_grpc/otlp, otlp_http/otlphttp), so
// the OTLP exporters are proven present by a config that uses them.
func TestOTLPExportersPresent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
receivers: {otlp: {protocols: {grpc: {endpoint: "localhost:0"}}}}
exporters:
  otlp_grpc: {endpoint: "localhost:4317"}
  otlp_http: {endpoint: "http://localhost:4318"}
service: {pipelines: {traces: {receivers: [otlp], exporters: [otlp_grpc, otlp_http]}}}
`), 0o600))
	out, err := runCollector(t, "validate", "--config", path)
	require.NoError(t, err, out)
}

func TestValidateShippedConfig(t *testing.T) {
	out, err := runCollector(t, "validate", "--config", "otelcol-config.yaml")
	require.NoError(t, err, out)
}

// TestHealthGateOnByDefault: the distribution turns on the feature gate the
// shipped health check needs (cmd/otelcol-rca/featuregates.go), and the
// command line can still turn it off, which the shipped config then fails
// for, naming the gate.
func TestHealthGateOnByDefault(t *testing.T) {
	const gate = "extension.healthcheck.useComponentStatus"
	out, err := runCollector(t, "featuregate", gate)
	require.NoError(t, err, out)
	assert.Regexp(t, `(?m)^Enabled:\s+true$`, out, "the gate is on without a flag")

	out, err = runCollector(t, "validate", "--feature-gates=-"+gate, "--config", "otelcol-config.yaml")
	require.Error(t, err, "validate accepted the shipped health check with the gate off:\n%s", out)
	assert.Contains(t, out, gate)
}

// TestTheImageRunsTheShippedConfig: the image's entrypoint and command, as
// the Dockerfile writes them, accept the shipped config.
func TestTheImageRunsTheShippedConfig(t *testing.T) {
	out, err := runCollector(t, imageArgs(t, dockerfileExec(t, "CMD"))...)
	require.NoError(t, err, out)
}

// dockerfileExec is the Dockerfile's ENTRYPOINT or CMD, in its JSON form.
func dockerfileExec(t *testing.T, instruction string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + instruction + ` (\[.*\])$`).FindSubmatch(raw)
	require.NotNil(t, m, "the Dockerfile's %s is a JSON array", instruction)
	var args []string
	require.NoError(t, json.Unmarshal(m[1], &args))
	return args
}

// imageArgs are the arguments of `validate` for the image run with command:
// the entrypoint's flags, then command, with the shipped configuration the
// image mounts read from the repository.
func imageArgs(t *testing.T, command []string) []string {
	t.Helper()
	entrypoint := dockerfileExec(t, "ENTRYPOINT")
	require.Equal(t, "/otelcol-rca", entrypoint[0])
	args := append([]string{"validate"}, entrypoint[1:]...)
	for _, a := range command {
		args = append(args, strings.ReplaceAll(a, "/etc/otelcol-rca/config.yaml", "otelcol-config.yaml"))
	}
	return args
}

// TestValidateNamesMistypedKeys: a typo in our components' configuration must
// fail validation with a message that names the key.
func TestValidateNamesMistypedKeys(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr []string
	}{
		{
			name: "rootcause key typo",
			config: `
receivers: {otlp: {protocols: {grpc: {endpoint: "localhost:0"}}}}
processors: {rootcause: {decision_wiat: 5s}}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [otlp], processors: [rootcause], exporters: [debug]}}}
`,
			wantErr: []string{"rootcause", "decision_wiat"},
		},
		{
			name: "scenario key typo",
			config: `
receivers: {scenario: {senario: checkout_payment_timeout}}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [scenario], exporters: [debug]}}}
`,
			wantErr: []string{"scenario", "senario"},
		},
		{
			name: "unknown built-in scenario",
			config: `
receivers: {scenario: {scenario: checkout_payment_timeuot}}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [scenario], exporters: [debug]}}}
`,
			wantErr: []string{"scenario", "checkout_payment_timeuot"},
		},
		{
			name: "negative decision wait",
			config: `
receivers: {otlp: {protocols: {grpc: {endpoint: "localhost:0"}}}}
processors: {rootcause: {decision_wait: -5s}}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [otlp], processors: [rootcause], exporters: [debug]}}}
`,
			wantErr: []string{"decision_wait", "-5s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.config), 0o600))
			out, err := runCollector(t, "validate", "--config", path)
			require.Error(t, err, "validate accepted a bad config:\n%s", out)
			for _, want := range tt.wantErr {
				assert.Contains(t, out, want)
			}
		})
	}
}

// TestValidateRejectsBadScenarioFiles: a custom scenario with a cycle in its
// call graph or a fault aimed at an unknown service fails validation with a
// message that names the file, the key and the problem.
func TestValidateRejectsBadScenarioFiles(t *testing.T) {
	const services = `
name: cyclic
traffic:
  rate: 5
  entrypoints: [{service: a, operation: GET /a}]
services:
  - name: a
    operations:
      - name: GET /a
        latency: {p50: 5ms, p99: 20ms}
        steps: [{call: {service: b, operation: GET /b}}]
  - name: b
    operations:
      - name: GET /b
        latency: {p50: 5ms, p99: 20ms}
        steps: [{call: {service: a, operation: GET /a}}]
`
	tests := []struct {
		name     string
		scenario string
		wantErr  []string
	}{
		{name: "call graph cycle", scenario: services, wantErr: []string{"scenario_file", "cycle", "a GET /a -> b GET /b -> a GET /a"}},
		{
			name: "fault at an unknown service",
			scenario: services + `
faults:
  - {name: f, kind: latency, target: {service: c}, latency: {p50: 1s, p99: 2s}, windows: ["at 1m for 1m"]}
`,
			wantErr: []string{"faults[0].target.service", `unknown service "c"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			scenario := filepath.Join(dir, "scenario.yaml")
			require.NoError(t, os.WriteFile(scenario, []byte(tt.scenario), 0o600))
			config := filepath.Join(dir, "config.yaml")
			require.NoError(t, os.WriteFile(config, []byte(`
receivers: {scenario: {scenario: "", scenario_file: `+scenario+`}}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [scenario], exporters: [debug]}}}
`), 0o600))
			out, err := runCollector(t, "validate", "--config", config)
			require.Error(t, err, "validate accepted a bad scenario:\n%s", out)
			for _, want := range tt.wantErr {
				assert.Contains(t, out, want)
			}
		})
	}
}

// TestValidateComposeCommands: the collector's command lines in the compose
// file and in its Zipkin override (which layer yaml: overrides on the shipped
// configuration) validate with the built binary: a pipeline naming an
// exporter the distribution lacks, or a mistyped key, fails here.
func TestValidateComposeCommands(t *testing.T) {
	for _, file := range []string{"docker-compose.yml", "deploy/compose.zipkin.yml"} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(repoRoot(t), file))
			require.NoError(t, err)
			var compose struct {
				Services map[string]struct {
					Command []string `yaml:"command"`
				} `yaml:"services"`
			}
			require.NoError(t, yaml.Unmarshal(raw, &compose))
			command := compose.Services["otelcol-rca"].Command
			require.NotEmpty(t, command, "%s: no command for otelcol-rca", file)
			out, err := runCollector(t, imageArgs(t, command)...)
			require.NoError(t, err, out)
		})
	}
}
