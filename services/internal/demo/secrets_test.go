package demo

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-rca/otelcol-rca/services/internal/faults"
	"github.com/otelcol-rca/otelcol-rca/services/internal/loadgen"
)

// TestNoSecretInTelemetry runs the demo's services with the demo's arguments,
// exporting to an in-process OTLP/HTTP receiver in place of the collector, under
// load (registrations, logins, checkouts), switches a fault with the switch's
// token and tries a wrong one, logs in and presents the JWT, and then searches
// every export request the services sent for the secrets they were given or
// handed out. The requests are searched as received, in protobuf: every string
// (span and metric names, attribute keys and values at any depth, log bodies,
// event attributes, resources) is stored there verbatim, so nothing is missed
// for want of walking a field.
func TestNoSecretInTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo's services: skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rca-services")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/otelcol-rca/otelcol-rca/services/cmd/rca-services").CombinedOutput(); err != nil {
		t.Fatalf("build rca-services: %v\n%s", err, out)
	}

	sink := &otlpSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()

	// Each secret is distinctive, so that finding it cannot be a coincidence.
	tokenSecret := "token-signing-secret-" + rand.Text()
	faultToken := "fault-switch-token-" + rand.Text()
	wrongToken := "wrong-fault-token-" + rand.Text()
	gatewaySecret := "gateway-api-secret-" + rand.Text()
	password := "user-password-" + rand.Text()
	secretFile := filepath.Join(dir, "token-secret")
	if err := os.WriteFile(secretFile, []byte(tokenSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	const madeUpTokenService = "inventory"
	r := &run{o: Options{BasePort: freeBasePort(t), StartTimeout: 30 * time.Second}, out: io.Discard}
	defer func() { _ = r.stopAll() }()
	env := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + srv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_TRACES_EXPORTER=otlp", "OTEL_METRICS_EXPORTER=otlp", "OTEL_LOGS_EXPORTER=otlp",
		"OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_BSP_SCHEDULE_DELAY=500", "OTEL_BLRP_SCHEDULE_DELAY=500",
		"TOKEN_SECRET=", "TOKEN_SECRET_FILE=" + secretFile,
		faults.TokenEnv + "=" + faultToken,
	}
	for _, s := range serviceOrder {
		args := r.o.serviceArgs(s.name)
		switch s.name {
		case "payment-gateway":
			args = append(args, "--api-secret", gatewaySecret)
		case "payment":
			args = append(args, "--gateway-api-secret", gatewaySecret)
		case "catalog":
			args = append(args, "--products", "5000") // a full table takes longer to fill than the test may run
		}
		svcEnv := append(slices.Clone(env), "OTEL_SERVICE_NAME="+s.name)
		if s.name == madeUpTokenService {
			svcEnv = append(svcEnv, faults.TokenEnv+"=") // it makes one up and prints it
		}
		p, err := r.start(s.name, bin, args, svcEnv, dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.waitHealthy(t.Context(), p, r.o.url(s.name)+"/healthz", filepath.Join(dir, s.name+".log")); err != nil {
			t.Fatal(err)
		}
	}

	madeUpToken := madeUpFaultToken(t, filepath.Join(dir, madeUpTokenService+".log"))

	lcfg := loadgen.Config{
		CatalogURL: r.o.url("catalog"), UserURL: r.o.url("user"), OrderURL: r.o.url("order"),
		Rate: 15, Duration: 6 * time.Second, Browse: 20, Login: 40, Checkout: 40,
		Users: 10, SKUs: 100, Categories: 20, Timeout: 5 * time.Second, MaxInFlight: 50,
	}
	if err := lcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	gen := loadgen.New(lcfg)
	if err := gen.Setup(t.Context()); err != nil {
		t.Fatalf("load generator setup: %v", err)
	}
	loadDone := make(chan loadgen.Summary, 1)
	go func() { loadDone <- gen.Run(t.Context()) }()

	switchFault := func(token string, on bool, want int) {
		t.Helper()
		url := fmt.Sprintf("%s/admin/faults?name=small_pool&on=%t", r.o.url("database"), on)
		if got := send(t, http.MethodPost, url, "Bearer "+token, nil, nil); got != want {
			t.Errorf("POST %s with a bearer token: status %d, want %d", url, got, want)
		}
	}
	switchFault(wrongToken, true, http.StatusUnauthorized)
	switchFault(faultToken, true, http.StatusOK)

	user := "secret-test-" + strings.ToLower(rand.Text())
	if got := send(t, http.MethodPost, r.o.url("user")+"/register", "", map[string]string{
		"username": user, "password": password, "email": user + "@example.com",
	}, nil); got != http.StatusCreated {
		t.Fatalf("register: status %d", got)
	}
	switchFault(faultToken, false, http.StatusOK)
	var login struct {
		Token string `json:"token"`
	}
	if got := send(t, http.MethodPost, r.o.url("user")+"/login", "", map[string]string{
		"username": user, "password": password,
	}, &login); got != http.StatusOK || login.Token == "" {
		t.Fatalf("login: status %d, token %q", got, login.Token)
	}
	if got := send(t, http.MethodPost, r.o.url("token")+"/verify", "", map[string]string{"token": login.Token}, nil); got != http.StatusOK {
		t.Errorf("verify the issued token: status %d", got)
	}
	// As a client would present it; no service asks for it.
	send(t, http.MethodGet, r.o.url("order")+"/orders/1", "Bearer "+login.Token, nil, nil)

	if sum := <-loadDone; sum.Requests == 0 {
		t.Fatal("the load generator sent no request")
	}
	// SIGTERM: each service flushes its telemetry before it exits.
	if err := r.stopAll(); err != nil {
		t.Errorf("stop the services: %v", err)
	}

	spans, records, metrics := sink.counts()
	t.Logf("received %d spans, %d log records, %d metrics", spans, records, metrics)
	if spans == 0 || records == 0 || metrics == 0 {
		t.Fatal("a signal is missing: the search below would prove nothing")
	}
	for what, secret := range map[string]string{
		"the token service's signing secret":                 tokenSecret,
		"the fault switch's token":                           faultToken,
		"a fault switch token a service made up":             madeUpToken,
		"a wrong fault switch token":                         wrongToken,
		"the payment gateway's API secret":                   gatewaySecret,
		"a user's password":                                  password,
		"a load generator user's password (correct-horse-N)": "correct-horse-",
		"an issued JWT":                                      login.Token,
		"any HS256 JWT (its header, eyJhbGciOi...)":          "eyJhbGciOi",
		"an Authorization header value (Bearer ...)":         "Bearer ",
	} {
		if hits := sink.find(secret); len(hits) > 0 {
			t.Errorf("%s is in the telemetry, in %d export request(s); the first: %s", what, len(hits), hits[0])
		}
	}
}

// madeUpFaultToken is the fault switch token a service started without one
// printed on its console.
func madeUpFaultToken(t *testing.T, logPath string) string {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "fault switch token made up (set " + faults.TokenEnv + " to choose it): "
	_, rest, ok := strings.Cut(string(data), marker)
	token, _, _ := strings.Cut(rest, "\n")
	if !ok || token == "" {
		t.Fatalf("%s: no made-up fault switch token (%q)", logPath, marker)
	}
	return token
}

// send makes a request with an optional Authorization header and JSON body,
// decodes a JSON answer into out when given, and returns the status code.
func send(t *testing.T, method, url, authorization string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Errorf("%s %s: decode the answer: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// freeBasePort returns a base port whose service ports (Ports.Service) are
// free, below the kernel's ephemeral range: a port the kernel may hand to an
// outgoing connection (a service's own, another test's) between this check
// and the service's listen would fail the start ("address already in use").
func freeBasePort(t *testing.T) int {
	t.Helper()
	top := ephemeralLow() - 40
	for range 50 {
		base := 20000 + mathrand.IntN(max(1, top-20000))
		free := true
		for i := range len(serviceOrder) {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", Ports{base}.Service(i)))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free range of service ports")
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default where it cannot be read).
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var low, high int
		if _, err := fmt.Sscan(string(b), &low, &high); err == nil && low > 20100 {
			return low
		}
	}
	return 32768
}

// otlpSink is an OTLP/HTTP (protobuf) receiver that keeps every request body.
type otlpSink struct {
	mu                      sync.Mutex
	bodies                  []received
	spans, records, metrics int
}

type received struct {
	signal string
	body   []byte
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rd = zr
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var (
		msg   proto.Message
		count func() int
	)
	switch r.URL.Path {
	case "/v1/traces":
		req := &coltrace.ExportTraceServiceRequest{}
		msg, count = req, func() (n int) {
			for _, rs := range req.GetResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					n += len(ss.GetSpans())
				}
			}
			return n
		}
	case "/v1/logs":
		req := &collogs.ExportLogsServiceRequest{}
		msg, count = req, func() (n int) {
			for _, rl := range req.GetResourceLogs() {
				for _, sl := range rl.GetScopeLogs() {
					n += len(sl.GetLogRecords())
				}
			}
			return n
		}
	case "/v1/metrics":
		req := &colmetrics.ExportMetricsServiceRequest{}
		msg, count = req, func() (n int) {
			for _, rm := range req.GetResourceMetrics() {
				for _, sm := range rm.GetScopeMetrics() {
					n += len(sm.GetMetrics())
				}
			}
			return n
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err := proto.Unmarshal(body, msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := count()
	s.mu.Lock()
	s.bodies = append(s.bodies, received{signal: r.URL.Path, body: body})
	switch r.URL.Path {
	case "/v1/traces":
		s.spans += n
	case "/v1/logs":
		s.records += n
	default:
		s.metrics += n
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *otlpSink) counts() (spans, records, metrics int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spans, s.records, s.metrics
}

// find returns where secret occurs in the received requests: the signal and
// the bytes around it.
func (s *otlpSink) find(secret string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []string
	for _, b := range s.bodies {
		if i := bytes.Index(b.body, []byte(secret)); i >= 0 {
			around := b.body[max(0, i-80):min(len(b.body), i+len(secret)+80)]
			hits = append(hits, fmt.Sprintf("%s: %q", b.signal, around))
		}
	}
	return hits
}
