// Package deploy holds the checks of the stack's configuration files; the
// dashboards themselves are checked in package dashboards.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-rca/otelcol-rca/deploy/dashboards"
)

// TestDockerComposeConfig validates docker-compose.yml with the docker-compose
// client. It cannot start the stack here (no Docker engine).
func TestDockerComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed (apt-get install -y docker-compose); skipping the compose file validation")
	}
	cmd := exec.Command(bin, "-f", filepath.Join("..", "docker-compose.yml"), "config", "-q")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config -q: %v\n%s", err, out)
	}
}

// TestComposeMountsExist checks every bind mount and build file of the compose
// file exists, which `config -q` does not.
func TestComposeMountsExist(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Build *struct {
				Context, Dockerfile string
			} `yaml:"build"`
			Volumes  []string `yaml:"volumes"`
			MemLimit string   `yaml:"mem_limit"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join("..", "docker-compose.yml"), &c)
	for name, s := range c.Services {
		if s.MemLimit == "" {
			t.Errorf("service %s: no mem_limit", name)
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join("..", s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if !strings.HasPrefix(src, "./") {
				continue // named volume
			}
			if src == "./otelcol-config.yaml" {
				continue // written by the collector's owner; the image copies it too
			}
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("service %s: mount %s: %v", name, v, err)
			}
		}
	}
}

// TestComposePublishesOnLoopbackOnly: the stack's UIs and APIs (Grafana,
// Prometheus' lifecycle API, Elasticsearch, OTLP, Alertmanager) are published
// on 127.0.0.1 only; exposing one on the network is a deliberate edit.
func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join("..", "docker-compose.yml"), &c)
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q on every interface; write 127.0.0.1:%s", name, p, p)
			}
		}
	}
}

// TestGrafanaIsNotAnAnonymousAdmin: anyone reaching Grafana may view the
// dashboards, not edit them or its data sources.
func TestGrafanaIsNotAnAnonymousAdmin(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join("..", "docker-compose.yml"), &c)
	env := c.Services["grafana"].Environment
	if env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" && env["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		t.Errorf("anonymous Grafana users get the role %q; want Viewer", env["GF_AUTH_ANONYMOUS_ORG_ROLE"])
	}
	if env["GF_AUTH_DISABLE_LOGIN_FORM"] == "true" {
		t.Error("the login form is disabled: nobody can sign in to edit")
	}
}

// TestPrometheusConfig checks the scrape configurations (compose, local,
// Kubernetes) with promtool when it is installed (apt-get install -y
// prometheus).
func TestPrometheusConfig(t *testing.T) {
	files := []string{filepath.Join("prometheus", "prometheus.yml"), filepath.Join("prometheus", "prometheus.local.yml"), filepath.Join("k8s", "config", "prometheus.yml")}
	for _, f := range files {
		var c struct {
			ScrapeConfigs []struct {
				JobName     string `yaml:"job_name"`
				HonorLabels bool   `yaml:"honor_labels"`
			} `yaml:"scrape_configs"`
		}
		readYAML(t, f, &c)
		if len(c.ScrapeConfigs) == 0 || c.ScrapeConfigs[0].JobName != "otelcol-rca" || !c.ScrapeConfigs[0].HonorLabels {
			t.Errorf("%s: the first scrape config must be otelcol-rca with honor_labels: true (job = service.name)", f)
		}
	}
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed; checked the YAML only")
	}
	out, err := exec.Command(bin, append([]string{"check", "config"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

type datasource struct {
	Name     string         `yaml:"name"`
	UID      string         `yaml:"uid"`
	Type     string         `yaml:"type"`
	JSONData map[string]any `yaml:"jsonData"`
}

// TestDatasources checks the provisioned datasources agree with the dashboards:
// UIDs, indices, Elasticsearch fields (allow-list) and the cross-signal links.
func TestDatasources(t *testing.T) {
	var f struct {
		Datasources []datasource `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "datasources", "datasources.yaml"), &f)
	byUID := map[string]datasource{}
	for _, d := range f.Datasources {
		byUID[d.UID] = d
	}
	want := map[string]string{
		dashboards.PrometheusUID: "prometheus", dashboards.JaegerUID: "jaeger",
		dashboards.ESLogsUID: "elasticsearch", dashboards.ESIncidentsUID: "elasticsearch",
	}
	for uid, typ := range want {
		if d, ok := byUID[uid]; !ok || d.Type != typ {
			t.Errorf("datasource %s of type %s is not provisioned", uid, typ)
		}
	}

	dest, _ := byUID[dashboards.PrometheusUID].JSONData["exemplarTraceIdDestinations"].([]any)
	if len(dest) != 1 || dest[0].(map[string]any)["name"] != "trace_id" || dest[0].(map[string]any)["datasourceUid"] != dashboards.JaegerUID {
		t.Errorf("prometheus: exemplarTraceIdDestinations must link trace_id to %s, got %v", dashboards.JaegerUID, dest)
	}

	t2l, _ := byUID[dashboards.JaegerUID].JSONData["tracesToLogsV2"].(map[string]any)
	if t2l["datasourceUid"] != dashboards.ESLogsUID {
		t.Errorf("jaeger: tracesToLogsV2 must point to %s, got %v", dashboards.ESLogsUID, t2l["datasourceUid"])
	}
	q, _ := t2l["query"].(string)
	for _, field := range dashboards.LuceneFields(q) {
		if !dashboards.ElasticsearchFields[field] {
			t.Errorf("jaeger: tracesToLogsV2 query names %q, not in the allow-list", field)
		}
	}

	indices := map[string]string{dashboards.ESLogsUID: dashboards.LogsIndex, dashboards.ESIncidentsUID: dashboards.IncidentsIndex}
	for uid, index := range indices {
		jd := byUID[uid].JSONData
		if jd["index"] != index {
			t.Errorf("%s: index %v, want %s", uid, jd["index"], index)
		}
		for _, k := range []string{"timeField", "logMessageField", "logLevelField"} {
			if v, _ := jd[k].(string); !dashboards.ElasticsearchFields[v] {
				t.Errorf("%s: %s %q is not in the allow-list", uid, k, v)
			}
		}
		links, _ := jd["dataLinks"].([]any)
		for _, l := range links {
			lm := l.(map[string]any)
			if f, _ := lm["field"].(string); !dashboards.ElasticsearchFields[f] {
				t.Errorf("%s: data link field %q is not in the allow-list", uid, f)
			}
			if lm["datasourceUid"] != dashboards.JaegerUID {
				t.Errorf("%s: data link must open Jaeger", uid)
			}
		}
	}
}

func TestDashboardProvider(t *testing.T) {
	var f struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "dashboards", "dashboards.yaml"), &f)
	if len(f.Providers) != 1 || f.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Fatalf("dashboard provider must read /var/lib/grafana/dashboards (the compose mount), got %+v", f.Providers)
	}
	compose, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), "./deploy/grafana/dashboards:/var/lib/grafana/dashboards") {
		t.Error("docker-compose.yml does not mount deploy/grafana/dashboards where the provider reads")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
