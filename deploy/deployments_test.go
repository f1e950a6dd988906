package deploy

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
)

// The deployment files, run without a container engine (there is none
// here). Every container of ours, in docker-compose.yml and in deploy/k8s,
// starts as its engine would start it: the image's entrypoint and command
// (read from its Dockerfile) overridden as the file overrides them, the
// image's environment and the file's, and nothing changed but what an engine
// provides:
//
//   - A network of its own. Every name a container can reach (a compose
//     service, a Kubernetes Service, a StatefulSet pod) is a loopback address
//     of its own, 127.0.<stack>.<n>, written in place of the name where a
//     host is named (host:port, scheme://host); in a container, localhost
//     and 0.0.0.0 are its own address. That holds for its command, its
//     environment and the configuration files it reads.
//   - A file system of its own. The image's files (the binaries built as its
//     Dockerfile builds them, the files it copies), its volumes (an empty
//     directory each), its secrets (the repository's secret files, read as
//     they are), its ConfigMaps (the generated files), its own /tmp and home;
//     the absolute paths of its command and environment are rewritten to
//     those, and a path that is neither in the image nor mounted fails.
//
// Each must then turn healthy by the check its file declares (compose's
// healthcheck.test; the pod's readiness and liveness probes) within the time
// the file gives it (start_period + interval × retries; initialDelaySeconds +
// periodSeconds × failureThreshold), start only once what it depends on is
// healthy (compose's depends_on) and its pod's init containers have
// succeeded (rerun until they do, as the kubelet reruns them), and still run
// when every other has turned healthy. One that exits, or never turns healthy, fails the test with its
// output's tail.
//
// Third-party images (Prometheus, Alertmanager, Grafana, Jaeger,
// Elasticsearch, Kibana, VictoriaLogs) are not run: their binaries are not
// built here at the images' versions (Debian's Prometheus and Alertmanager
// are older ones), they listen on every interface by default, which only a
// container's own network keeps apart, and what they read is checked against
// real servers elsewhere (TestPrometheusConfig, test/e2e). A dependency on
// one counts as met; the collectors run with their backends down, which
// their health check reports only after a minute of failures.
//
// One pod a workload: replicas are the same container.
//
// Every collector's own metrics must be scraped by Prometheus
// (prometheus/prometheus.yml in compose, k8s/config/prometheus.yml in
// Kubernetes): once the stack has settled, each of its scrape targets is
// fetched as Prometheus would (a static host:port, or the addresses a
// headless Service lists), and every collector must have been scraped for
// the collector's own metrics.

// TestDeploymentsStart runs docker-compose.yml and deploy/k8s as described
// above, and checks that the compose stack fails as it would when the token
// service has no signing secret.
func TestDeploymentsStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every service of the deployment files: skipped with -short")
	}
	lockStacks(t)
	images := buildImages(t)

	t.Run("compose", func(t *testing.T) {
		f := loadCompose(t)
		s := composeStack(t, images, f, 1)
		s.whileUp = func() map[string]error { return composeOwnMetrics(t, s, f) }
		failures := runStack(t, s)
		for _, name := range slices.Sorted(maps.Keys(failures)) {
			t.Errorf("%s: %v", name, failures[name])
		}
	})

	// The token service's secret comes from the file, and what waits for it
	// waits: without the secret, token exits as it did before the file gave
	// it one (issue 28), and user and the load generator never start.
	t.Run("compose without the token secret", func(t *testing.T) {
		f := loadCompose(t)
		token := f.Services["token"]
		token.Secrets = nil
		token.Environment = maps.Clone(token.Environment)
		delete(token.Environment, "TOKEN_SECRET_FILE")
		f.Services["token"] = token
		failures := runStack(t, composeStack(t, images, f, 3))
		if err := failures["token"]; err == nil || !strings.Contains(err.Error(), "TOKEN_SECRET") {
			t.Errorf("token: want an exit naming its missing secret, got %v", err)
		}
		for _, name := range []string{"user", "loadgen"} {
			if err := failures[name]; err == nil || !strings.Contains(err.Error(), "not started") {
				t.Errorf("%s: want it never started (it waits for token), got %v", name, err)
			}
		}
		delete(failures, "token")
		delete(failures, "user")
		delete(failures, "loadgen")
		for _, name := range slices.Sorted(maps.Keys(failures)) {
			t.Errorf("%s: %v", name, failures[name])
		}
	})

	t.Run("kubernetes", func(t *testing.T) {
		o := loadK8s(t)
		s := k8sStack(t, images, o, 2)
		s.whileUp = func() map[string]error { return k8sOwnMetrics(t, s, o) }
		failures := runStack(t, s)
		for _, name := range slices.Sorted(maps.Keys(failures)) {
			t.Errorf("%s: %v", name, failures[name])
		}
	})
}

// lockStacks keeps two runs of this test on one machine apart: their stacks
// use the same loopback addresses.
func lockStacks(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "otelcol-rca-deployments-start.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
}

// composeFile is the part of docker-compose.yml this test reads; every key
// of a service must be one of composeService's (decoded strictly), so that
// a key that changes how a container starts is not ignored.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
	// The x- extension fields, which the services merge in.
	Extensions map[string]any `yaml:",inline"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	// The engine's business outside the container: restarts, the memory
	// cgroup, ports published on the host (the test reaches each container
	// on its own address).
	Restart  string   `yaml:"restart"`
	MemLimit string   `yaml:"mem_limit"`
	Ports    []string `yaml:"ports"`
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for k := range f.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Fatalf("docker-compose.yml: top-level key %q is not read by this test; teach it", k)
		}
	}
	return &f
}

// composeStack is docker-compose.yml's services built from this repository's
// Dockerfiles, in the loopback block 127.0.<block>.0/24.
func composeStack(t *testing.T, images map[string]*image, f *composeFile, block int) *stack {
	t.Helper()
	s := newStack(t, block, slices.Collect(maps.Keys(f.Services)))
	for _, name := range slices.Sorted(maps.Keys(f.Services)) {
		svc := f.Services[name]
		if svc.Build == nil {
			continue // a third-party image
		}
		img := images[svc.Image]
		c := s.newContainer(t, name, img)
		c.argv = img.argv(svc.Entrypoint, svc.Command)
		for _, k := range slices.Sorted(maps.Keys(svc.Environment)) {
			if strings.Contains(svc.Environment[k], "$") {
				t.Fatalf("%s: %s=%s: compose would interpolate it; teach this test", name, k, svc.Environment[k])
			}
			c.env = append(c.env, k+"="+svc.Environment[k])
		}

		for _, v := range svc.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":") // :ro
			switch {
			case strings.HasPrefix(src, "./") || strings.HasPrefix(src, "/"):
				host := repoFile(t, src)
				if st, err := os.Stat(host); err != nil {
					t.Fatalf("%s: volume %s: %v", name, v, err)
				} else if !st.IsDir() {
					host = s.translatedCopy(t, c, dst, host)
				}
				c.mounts[dst] = host
			case hasKey(f.Volumes, src):
				c.mounts[dst] = c.mkdir(t, dst) // a new named volume is empty
			default:
				t.Fatalf("%s: volume %s is neither a bind mount nor a named volume of the file", name, v)
			}
		}
		for _, sec := range svc.Secrets {
			file := f.Secrets[sec].File
			if file == "" {
				t.Fatalf("%s: secret %s has no file in the file's secrets", name, sec)
			}
			c.mounts["/run/secrets/"+sec] = repoFile(t, file)
		}

		for dep, d := range svc.DependsOn {
			dsvc, ok := f.Services[dep]
			switch {
			case !ok:
				t.Fatalf("%s depends on %s, which is not a service of the file", name, dep)
			case dsvc.Build == nil:
				c.skipped[dep] = true
			default:
				c.dependsOn[dep] = d.Condition
			}
		}

		hc := svc.Healthcheck
		switch {
		case hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE":
			c.checkOutput(t)
		case hc.Test[0] == "CMD":
			interval, timeout, start := composeDuration(t, hc.Interval, 30*time.Second), composeDuration(t, hc.Timeout, 30*time.Second), composeDuration(t, hc.StartPeriod, 0)
			retries := hc.Retries
			if retries == 0 {
				retries = 3
			}
			c.check = s.execCheck(c, hc.Test[1:], timeout)
			c.within = start + time.Duration(retries)*interval
			c.withinWhy = fmt.Sprintf("its healthcheck's start_period %v + %d retries × interval %v", start, retries, interval)
		default:
			t.Fatalf("%s: healthcheck %v: our images have no shell (distroless); write it as CMD", name, hc.Test)
		}
		s.containers = append(s.containers, c)
	}
	return s
}

func composeDuration(t *testing.T, v string, unset time.Duration) time.Duration {
	t.Helper()
	if v == "" {
		return unset
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("docker-compose.yml: duration %q: %v", v, err)
	}
	return d
}

// k8sStack is deploy/k8s's containers of the images docker-compose.yml
// builds, one pod a workload, in the loopback block 127.0.<block>.0/24. A
// Service's name is the address of the first pod it selects; a
// StatefulSet's pods are <name>-<i>.<serviceName> as well.
func k8sStack(t *testing.T, images map[string]*image, o *k8sObjects, block int) *stack {
	t.Helper()
	podName := func(w workload) string {
		if w.kind == "StatefulSet" {
			return w.name + "-0"
		}
		return w.name
	}
	var names []string
	for _, w := range o.workloads() {
		names = append(names, podName(w))
	}
	for _, ss := range o.statefulSets {
		for i := range int(ptrOr(ss.Spec.Replicas, 1)) {
			names = append(names, fmt.Sprintf("%s-%d.%s", ss.Name, i, ss.Spec.ServiceName))
		}
	}
	for _, svc := range o.services {
		names = append(names, svc.Name)
	}
	s := newStack(t, block, names)
	for _, ss := range o.statefulSets {
		s.addrs[ss.Name+"-0."+ss.Spec.ServiceName] = s.addrs[ss.Name+"-0"]
	}
	for _, svc := range o.services {
		if pods := o.selected(svc); len(pods) > 0 {
			s.addrs[svc.Name] = s.addrs[podName(pods[0])]
		}
	}

	for _, w := range o.workloads() {
		var inits []*container
		for _, kc := range w.pod.Spec.InitContainers {
			if _, ours := images[kc.Image]; !ours {
				t.Fatalf("%s %s: init container %s runs the third-party image %s; teach this test", w.kind, w.name, kc.Name, kc.Image)
			}
			c := s.k8sContainer(t, images, o, w, podName(w), kc)
			c.within, c.withinWhy = undeclaredWithin, "the kubelet reruns a failed init container without end"
			inits = append(inits, c)
		}
		for _, kc := range w.pod.Spec.Containers {
			if _, ours := images[kc.Image]; !ours {
				continue // a third-party image
			}
			if len(w.pod.Spec.Containers) > 1 {
				t.Fatalf("%s %s: pods of several containers share one address; teach this test", w.kind, w.name)
			}
			c := s.k8sContainer(t, images, o, w, podName(w), kc)
			c.init = inits
			live, ready := kc.LivenessProbe, kc.ReadinessProbe
			if live == nil && ready == nil {
				c.checkOutput(t)
			} else {
				bound := live
				if bound == nil {
					bound = ready
				}
				c.check = s.probes(t, c, kc, ready, live)
				period, failures := ptrDefault(bound.PeriodSeconds, 10), ptrDefault(bound.FailureThreshold, 3)
				c.within = time.Duration(bound.InitialDelaySeconds+period*failures) * time.Second
				c.withinWhy = fmt.Sprintf("its probe's initialDelaySeconds %d + failureThreshold %d × periodSeconds %d", bound.InitialDelaySeconds, failures, period)
			}
			s.containers = append(s.containers, c)
		}
	}
	return s
}

// k8sContainer is a container of the pod pod: command, environment, volumes.
func (s *stack) k8sContainer(t *testing.T, images map[string]*image, o *k8sObjects, w workload, pod string, kc corev1.Container) *container {
	t.Helper()
	img := images[kc.Image]
	c := s.newContainer(t, pod, img)
	c.argv = img.argv(kc.Command, kc.Args)
	for _, e := range kc.Env {
		c.env = append(c.env, e.Name+"="+k8sEnvValue(t, o, w, e))
	}
	s.mountVolumes(t, c, o, w, kc)
	return c
}

func ptrOr(p *int32, v int32) int32 {
	if p == nil {
		return v
	}
	return *p
}

// ptrDefault is a probe's field as the API server defaults it: unset and 0
// are the default.
func ptrDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// k8sEnvValue is an environment variable's value in the pod: its value, or
// the key of a Secret of the deployment it names. A key the deployment does
// not have would keep the pod from starting.
func k8sEnvValue(t *testing.T, o *k8sObjects, w workload, e corev1.EnvVar) string {
	t.Helper()
	where := fmt.Sprintf("%s %s: env %s", w.kind, w.name, e.Name)
	switch {
	case e.ValueFrom == nil:
		if strings.Contains(e.Value, "$(") {
			t.Fatalf("%s: the kubelet would expand %q; teach this test", where, e.Value)
		}
		return e.Value
	case e.ValueFrom.SecretKeyRef != nil:
		ref := e.ValueFrom.SecretKeyRef
		for _, sec := range o.secrets {
			if sec.Name != ref.Name {
				continue
			}
			if v, ok := sec.StringData[ref.Key]; ok {
				return v
			}
			if v, ok := sec.Data[ref.Key]; ok {
				return string(v)
			}
		}
		t.Fatalf("%s: Secret %s has no key %s in the deployment", where, ref.Name, ref.Key)
	}
	t.Fatalf("%s: this test resolves values and Secret keys only; teach it", where)
	return ""
}

// mountVolumes mounts the pod's volumes where the container mounts them:
// a generated ConfigMap's files (host names translated), an emptyDir or a
// StatefulSet's claim (an empty directory).
func (s *stack) mountVolumes(t *testing.T, c *container, o *k8sObjects, w workload, kc corev1.Container) {
	t.Helper()
	claims := map[string]bool{}
	if ss := statefulSet(o, w); ss != nil {
		for _, pvc := range ss.Spec.VolumeClaimTemplates {
			claims[pvc.Name] = true
		}
	}
	for _, m := range kc.VolumeMounts {
		where := fmt.Sprintf("%s %s: volume %s", w.kind, w.name, m.Name)
		var vol *corev1.Volume
		for i := range w.pod.Spec.Volumes {
			if w.pod.Spec.Volumes[i].Name == m.Name {
				vol = &w.pod.Spec.Volumes[i]
			}
		}
		switch {
		case vol == nil && claims[m.Name], vol != nil && vol.EmptyDir != nil:
			c.mounts[m.MountPath] = c.mkdir(t, m.MountPath)
		case vol != nil && vol.ConfigMap != nil:
			files, ok := o.configMaps[vol.ConfigMap.Name]
			if !ok {
				t.Fatalf("%s: ConfigMap %s is not generated by the kustomization", where, vol.ConfigMap.Name)
			}
			keys := map[string]string{} // file name in the volume → key
			for k := range files {
				keys[k] = k
			}
			if len(vol.ConfigMap.Items) > 0 {
				keys = map[string]string{}
				for _, it := range vol.ConfigMap.Items {
					keys[it.Path] = it.Key
				}
			}
			for name, key := range keys {
				p := path.Join(m.MountPath, name)
				c.mounts[p] = s.translatedCopy(t, c, p, filepath.Join(k8sDir, files[key]))
			}
		default:
			t.Fatalf("%s: this test mounts ConfigMaps, emptyDirs and claims only; teach it", where)
		}
		if m.SubPath != "" {
			t.Fatalf("%s: subPath; teach this test", where)
		}
	}
}

// probes is healthy when the readiness and the liveness probe both succeed,
// as the kubelet runs them against the pod's address.
func (s *stack) probes(t *testing.T, c *container, kc corev1.Container, probes ...*corev1.Probe) func(context.Context, *proc) error {
	t.Helper()
	var checks []func(context.Context) error
	for _, p := range probes {
		if p == nil {
			continue
		}
		timeout := time.Duration(ptrDefault(p.TimeoutSeconds, 1)) * time.Second
		switch {
		case p.HTTPGet != nil:
			if p.HTTPGet.Host != "" || (p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP) {
				t.Fatalf("%s: an HTTP probe to another host or over HTTPS; teach this test", c.name)
			}
			url := fmt.Sprintf("http://%s/%s", net.JoinHostPort(c.addr, containerPort(t, c, kc, p.HTTPGet.Port.String())), strings.TrimPrefix(p.HTTPGet.Path, "/"))
			checks = append(checks, func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
				if err != nil {
					return err
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return fmt.Errorf("probe: %w", err)
				}
				resp.Body.Close()
				if resp.StatusCode < 200 || resp.StatusCode >= 400 {
					return fmt.Errorf("probe: GET %s: %s", url, resp.Status)
				}
				return nil
			})
		case p.TCPSocket != nil:
			addr := net.JoinHostPort(c.addr, containerPort(t, c, kc, p.TCPSocket.Port.String()))
			checks = append(checks, func(ctx context.Context) error {
				conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
				if err != nil {
					return fmt.Errorf("probe: %w", err)
				}
				return conn.Close()
			})
		default:
			t.Fatalf("%s: a probe this test does not run; teach it", c.name)
		}
	}
	return func(ctx context.Context, _ *proc) error {
		for _, check := range checks {
			if err := check(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// containerPort is a probe's port: a number, or the name of a port of the
// container.
func containerPort(t *testing.T, c *container, kc corev1.Container, port string) string {
	t.Helper()
	if _, err := strconv.Atoi(port); err == nil {
		return port
	}
	for _, p := range kc.Ports {
		if p.Name == port {
			return strconv.Itoa(int(p.ContainerPort))
		}
	}
	t.Fatalf("%s: a probe names the port %q, which the container does not have", c.name, port)
	return ""
}

// ownMetric is a metric every collector exposes among its own.
const ownMetric = "otelcol_process_uptime"

// promScrapeConfig is the part of a Prometheus scrape configuration
// scrapeOwnMetrics follows to its targets.
type promScrapeConfig struct {
	JobName       string `yaml:"job_name"`
	MetricsPath   string `yaml:"metrics_path"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
	DNSSDConfigs []struct {
		Names []string `yaml:"names"`
		Type  string   `yaml:"type"`
		Port  int      `yaml:"port"`
	} `yaml:"dns_sd_configs"`
}

// scrapeOwnMetrics fetches every target of the scrape jobs of the
// Prometheus configuration promFile (relative to deploy/) in the running
// stack s, and fails each of the collector containers named whose own
// metrics no job scraped. dnsTarget is the host:port a dns_sd_configs name
// is scraped at, or an error when Prometheus would not reach each collector
// through it; nil when the deployment has no such names.
func scrapeOwnMetrics(t *testing.T, s *stack, promFile string, dnsTarget func(name, typ string, port int) (string, error), collectors []string) map[string]error {
	t.Helper()
	var prom struct {
		ScrapeConfigs []promScrapeConfig `yaml:"scrape_configs"`
	}
	readYAML(t, promFile, &prom)
	scraped := map[string]string{} // address → the job that scraped its own metrics
	client := &http.Client{Timeout: 5 * time.Second}
	for _, job := range prom.ScrapeConfigs {
		var targets []string // host:port, the hosts as the deployment names them
		for _, sc := range job.StaticConfigs {
			targets = append(targets, sc.Targets...)
		}
		for _, sd := range job.DNSSDConfigs {
			for _, name := range sd.Names {
				if dnsTarget == nil {
					t.Errorf("%s job %s: dns_sd_configs name %s: this deployment's test resolves no DNS names; teach it", promFile, job.JobName, name)
					continue
				}
				target, err := dnsTarget(name, sd.Type, sd.Port)
				if err != nil {
					t.Errorf("%s job %s: %v", promFile, job.JobName, err)
					continue
				}
				targets = append(targets, target)
			}
		}
		for _, target := range targets {
			host, port, err := net.SplitHostPort(target)
			addr, ok := s.addrs[host]
			if err != nil || !ok {
				t.Errorf("%s job %s: target %s names nothing in the deployment", promFile, job.JobName, target)
				continue
			}
			url := "http://" + net.JoinHostPort(addr, port) + cmp.Or(job.MetricsPath, "/metrics")
			resp, err := client.Get(url)
			if err != nil {
				t.Errorf("%s job %s: scrape %s (%s): %v", promFile, job.JobName, target, url, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s job %s: scrape %s (%s): %s", promFile, job.JobName, target, url, resp.Status)
				continue
			}
			if bytes.Contains(body, []byte(ownMetric)) {
				scraped[addr] = job.JobName
				t.Logf("%s job %s scrapes %s (%s): the collector's own metrics", promFile, job.JobName, target, url)
			}
		}
	}
	if len(collectors) == 0 {
		t.Errorf("%s: no collector in the deployment to scrape", promFile)
	}
	failures := map[string]error{}
	for _, c := range s.containers {
		if slices.Contains(collectors, c.name) && scraped[c.addr] == "" {
			failures[c.name] = fmt.Errorf("its own metrics (%s) are scraped by no job of %s", ownMetric, promFile)
		}
	}
	return failures
}

// k8sOwnMetrics is scrapeOwnMetrics for the Kubernetes stack s: its
// Prometheus finds pods through headless Services (one scraped pod a
// workload here), and its collectors are the otelcol-rca containers.
func k8sOwnMetrics(t *testing.T, s *stack, o *k8sObjects) map[string]error {
	t.Helper()
	dnsTarget := func(name, typ string, port int) (string, error) {
		svc := o.service(name)
		if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || typ != "A" {
			// A Service's own address would hand each scrape to any one of its pods.
			return "", fmt.Errorf("%s is not a headless Service listed by A records: Prometheus would not reach each pod", name)
		}
		return net.JoinHostPort(name, strconv.Itoa(port)), nil
	}
	var collectors []string
	for _, w := range o.workloads() {
		for _, kc := range w.pod.Spec.Containers {
			if strings.HasPrefix(kc.Image, "otelcol-rca:") {
				collectors = append(collectors, w.name, w.name+"-0")
			}
		}
	}
	return scrapeOwnMetrics(t, s, filepath.Join(k8sDir, "config", "prometheus.yml"), dnsTarget, collectors)
}

// composeOwnMetrics is scrapeOwnMetrics for the compose stack s: its
// Prometheus scrapes static targets by service name, and its collectors are
// the services of the otelcol-rca image.
func composeOwnMetrics(t *testing.T, s *stack, f *composeFile) map[string]error {
	t.Helper()
	var collectors []string
	for name, svc := range f.Services {
		if strings.HasPrefix(svc.Image, "otelcol-rca:") {
			collectors = append(collectors, name)
		}
	}
	return scrapeOwnMetrics(t, s, filepath.Join("prometheus", "prometheus.yml"), nil, collectors)
}
