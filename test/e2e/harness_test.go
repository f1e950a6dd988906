package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RCA_COLLECTOR")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "otelcol-rca")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "collector binary missing: run `make build` or set RCA_COLLECTOR")
	return bin
}

// givenPorts are the ports freePort handed out in this test binary: the
// kernel may pick a port just closed again for the next bind to port 0, and
// one collector given the same port twice fails to start.
var givenPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freePort returns a loopback port that was free a moment ago and that it
// never returned before.
func freePort(t *testing.T) int {
	t.Helper()
	givenPorts.Lock()
	defer givenPorts.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !givenPorts.m[port] {
			givenPorts.m[port] = true
			return port
		}
	}
}

// process is a child process stopped (SIGTERM, then SIGKILL) when the test
// ends, or before by stop.
type process struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startProcess(t *testing.T, name, logPath string, bin string, args ...string) *process {
	t.Helper()
	return startProcessEnv(t, name, logPath, nil, bin, args...)
}

// startProcessEnv starts bin with env added to the test's environment; its
// output is appended to logPath.
func startProcessEnv(t *testing.T, name, logPath string, env []string, bin string, args ...string) *process {
	t.Helper()
	return startProcessIn(t, name, logPath, "", env, bin, args...)
}

// startProcessIn starts bin in the working directory dir (the test's when
// empty), with env added to the test's environment; its output is appended
// to logPath.
func startProcessIn(t *testing.T, name, logPath, dir string, env []string, bin string, args ...string) *process {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &process{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited); f.Close() }()
	t.Cleanup(func() {
		p.stop(10 * time.Second)
		if t.Failed() {
			t.Logf("--- %s log (%s) tail:\n%s", name, logPath, tail(logPath, 40))
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit, then SIGKILL after
// grace. It reports whether the process exited on SIGTERM.
func (p *process) stop(grace time.Duration) bool {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return false
	}
}

func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(t *testing.T, u string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %v", u, timeout)
}

// startCollector writes config to a file and runs the built binary on it.
func startCollector(t *testing.T, dir, config string) *process {
	t.Helper()
	path := filepath.Join(dir, "otelcol.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	return startProcess(t, "otelcol-rca", filepath.Join(dir, "otelcol.log"), collectorBinary(t), "--config", path)
}

// prometheus is a real Prometheus server (Debian's package) with exemplar storage.
type prometheus struct {
	url string
}

func startPrometheus(t *testing.T, dir string, scrapeTarget string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (apt-get install prometheus; .ci/run does it): %v", err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: otelcol-rca
    # The exporter's job label is each service's name: keep it (as deploy/prometheus does).
    honor_labels: true
    static_configs:
      - targets: [%q]
`, scrapeTarget)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	port := freePort(t)
	startProcess(t, "prometheus", filepath.Join(dir, "prometheus.log"), bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--enable-feature=exemplar-storage",
	)
	p := &prometheus{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(t, p.url+"/-/ready", 30*time.Second)
	return p
}

type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
}

func (p *prometheus) get(ctx context.Context, path string, params url.Values) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if pr.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, pr.ErrorType, pr.Error)
	}
	return pr.Data, nil
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant PromQL query.
func (p *prometheus) query(ctx context.Context, q string) ([]promSample, error) {
	data, err := p.get(ctx, "/api/v1/query", url.Values{"query": {q}})
	if err != nil {
		return nil, err
	}
	var res struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, err
	}
	return res.Result, nil
}

type promExemplars struct {
	SeriesLabels map[string]string `json:"seriesLabels"`
	Exemplars    []struct {
		Labels    map[string]string `json:"labels"`
		Value     string            `json:"value"`
		Timestamp float64           `json:"timestamp"`
	} `json:"exemplars"`
}

// queryExemplars asks for the exemplars of q over the last hour.
func (p *prometheus) queryExemplars(ctx context.Context, q string) ([]promExemplars, error) {
	now := time.Now()
	data, err := p.get(ctx, "/api/v1/query_exemplars", url.Values{
		"query": {q},
		"start": {fmt.Sprint(now.Add(-time.Hour).Unix())},
		"end":   {fmt.Sprint(now.Add(time.Minute).Unix())},
	})
	if err != nil {
		return nil, err
	}
	var res []promExemplars
	return res, json.Unmarshal(data, &res)
}

// readLogsFile decodes the file exporter's output: one OTLP JSON
// ExportLogsServiceRequest per line.
func readLogsFile(t *testing.T, path string) []plog.Logs {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []plog.Logs
	var um plog.JSONUnmarshaler
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		ld, err := um.UnmarshalLogs(line)
		if err != nil {
			// The exporter may be in the middle of writing the last line.
			continue
		}
		out = append(out, ld)
	}
	return out
}

// logRecord is a flattened log record with its resource's service name.
type logRecord struct {
	Service   string
	EventName string
	Body      string
	Severity  string
	TraceID   string
	Attrs     map[string]any
}

func flattenLogs(lds []plog.Logs) []logRecord {
	var out []logRecord
	for _, ld := range lds {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			svc, _ := rl.Resource().Attributes().Get("service.name")
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					rec := logRecord{
						Service:   svc.AsString(),
						EventName: lr.EventName(),
						Body:      lr.Body().AsString(),
						Severity:  lr.SeverityText(),
						Attrs:     lr.Attributes().AsRaw(),
					}
					if !lr.TraceID().IsEmpty() {
						rec.TraceID = lr.TraceID().String()
					}
					out = append(out, rec)
				}
			}
		}
	}
	return out
}
