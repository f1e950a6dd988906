package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The Kubernetes deployment (deploy/k8s) is checked here as the API server
// and the kubelet would read it, without a cluster: every object decodes
// strictly into the Kubernetes API types (an unknown or duplicated field is
// an error, as `kubectl apply --validate=strict` makes it), and the objects
// hang together (selectors, ports, ConfigMaps, the names in the collectors'
// configs). The collectors' configs are validated by the built collector.

const k8sDir = "k8s"

// kustomization is the part of kustomize's Kustomization this deployment
// uses; an unknown field is an error (decoded with KnownFields).
type kustomization struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Namespace  string `yaml:"namespace"`
	Labels     []struct {
		Pairs map[string]string `yaml:"pairs"`
	} `yaml:"labels"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
}

// k8sObjects is the deployment: its kustomization and every object of its
// resources, decoded.
type k8sObjects struct {
	kustomization
	namespaces   []*corev1.Namespace
	services     []*corev1.Service
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	secrets      []*corev1.Secret
	// configMaps maps each generated ConfigMap to its files: key → path.
	configMaps map[string]map[string]string
}

// workload is a Deployment's or StatefulSet's pod template, named.
type workload struct {
	kind, name string
	selector   map[string]string
	pod        *corev1.PodTemplateSpec
}

func (o *k8sObjects) workloads() []workload {
	var out []workload
	for _, d := range o.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, &d.Spec.Template})
	}
	for _, s := range o.statefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector.MatchLabels, &s.Spec.Template})
	}
	return out
}

func (o *k8sObjects) service(name string) *corev1.Service {
	for _, s := range o.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// selected is the workloads whose pods a Service selects.
func (o *k8sObjects) selected(s *corev1.Service) []workload {
	var out []workload
	for _, w := range o.workloads() {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.pod.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

func loadK8s(t *testing.T) *k8sObjects {
	t.Helper()
	o := &k8sObjects{configMaps: map[string]map[string]string{}}
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&o.kustomization); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if o.APIVersion != "kustomize.config.k8s.io/v1beta1" || o.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", o.APIVersion, o.Kind)
	}
	for _, g := range o.ConfigMapGenerator {
		files := map[string]string{}
		for _, f := range g.Files {
			key, path, ok := strings.Cut(f, "=")
			if !ok {
				key, path = filepath.Base(f), f
			}
			if _, err := os.Stat(filepath.Join(k8sDir, path)); err != nil {
				t.Errorf("configMapGenerator %s: %v", g.Name, err)
			}
			files[key] = path
		}
		o.configMaps[g.Name] = files
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, res := range o.Resources {
		f, err := os.Open(filepath.Join(k8sDir, res))
		if err != nil {
			t.Fatalf("resource %s: %v", res, err)
		}
		docs := k8syaml.NewYAMLReader(bufio.NewReader(f))
		for i := 0; ; i++ {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", res, i, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s: document %d: %v", res, i, err)
				continue
			}
			switch v := obj.(type) {
			case *corev1.Namespace:
				o.namespaces = append(o.namespaces, v)
			case *corev1.Service:
				o.services = append(o.services, v)
			case *appsv1.Deployment:
				o.deployments = append(o.deployments, v)
			case *appsv1.StatefulSet:
				o.statefulSets = append(o.statefulSets, v)
			case *corev1.Secret:
				o.secrets = append(o.secrets, v)
			default:
				t.Errorf("%s: document %d: %s is not checked by this test; teach it", res, i, gvk)
			}
		}
		f.Close()
	}
	return o
}

// TestKubernetesManifestsDecodeStrictly: every object of deploy/k8s is a
// valid Kubernetes object of a known kind, with no unknown field, and the
// strict decoder does reject one (so the check cannot pass by accident).
func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	o := loadK8s(t)
	if len(o.namespaces) != 1 || o.namespaces[0].Name != o.Namespace {
		t.Errorf("the deployment creates its namespace %q once", o.Namespace)
	}
	if len(o.deployments) == 0 || len(o.statefulSets) == 0 || len(o.services) == 0 {
		t.Fatalf("decoded %d Deployments, %d StatefulSets, %d Services", len(o.deployments), len(o.statefulSets), len(o.services))
	}

	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	typo := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n")
	if _, _, err := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer().Decode(typo, nil, nil); err == nil {
		t.Error("a Deployment with the unknown field spec.replica decoded without error")
	}
}

// TestKubernetesObjectsHangTogether: what `kubectl apply` accepts but the
// cluster would not run as meant: a Service that selects no pod or names a
// port no container has, a missing ConfigMap, a probe on an unknown port, a
// container without limits or hardening, an address no Service answers.
func TestKubernetesObjectsHangTogether(t *testing.T) {
	o := loadK8s(t)
	for _, s := range o.services {
		pods := o.selected(s)
		if len(pods) == 0 {
			t.Errorf("Service %s selects no pod", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			for _, w := range pods {
				if !hasPort(w.pod, p.TargetPort.String()) {
					t.Errorf("Service %s: port %s targets %s, which %s %s does not expose", s.Name, p.Name, p.TargetPort.String(), w.kind, w.name)
				}
			}
		}
	}
	for _, ss := range o.statefulSets {
		if s := o.service(ss.Spec.ServiceName); s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone || !slices.ContainsFunc(o.selected(s), func(w workload) bool { return w.name == ss.Name }) {
			t.Errorf("StatefulSet %s: serviceName %q is not a headless Service that selects it", ss.Name, ss.Spec.ServiceName)
		}
	}
	for _, w := range o.workloads() {
		where := w.kind + " " + w.name
		if !labels.SelectorFromSet(w.selector).Matches(labels.Set(w.pod.Labels)) {
			t.Errorf("%s: its selector does not match its pod labels", where)
		}
		if sc := w.pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil {
			t.Errorf("%s: the pod must run as non-root with a seccomp profile", where)
		}
		volumes := map[string]bool{}
		for _, v := range w.pod.Spec.Volumes {
			volumes[v.Name] = true
			if v.ConfigMap != nil {
				files, ok := o.configMaps[v.ConfigMap.Name]
				if !ok {
					t.Errorf("%s: volume %s reads ConfigMap %s, which the kustomization does not generate", where, v.Name, v.ConfigMap.Name)
				}
				for _, item := range v.ConfigMap.Items {
					if _, ok := files[item.Key]; !ok {
						t.Errorf("%s: ConfigMap %s has no key %s", where, v.ConfigMap.Name, item.Key)
					}
				}
			}
		}
		if ss := statefulSet(o, w); ss != nil {
			for _, c := range ss.Spec.VolumeClaimTemplates {
				volumes[c.Name] = true
			}
		}
		for _, c := range w.pod.Spec.InitContainers {
			where := where + " init container " + c.Name
			checkContainer(t, o, where, w.pod, c, volumes)
		}
		for _, c := range w.pod.Spec.Containers {
			where := where + " container " + c.Name
			checkContainer(t, o, where, w.pod, c, volumes)
		}
	}
}

func statefulSet(o *k8sObjects, w workload) *appsv1.StatefulSet {
	for _, s := range o.statefulSets {
		if w.kind == "StatefulSet" && s.Name == w.name {
			return s
		}
	}
	return nil
}

// address is a Service name and port in an env value or argument:
// http://payment:8080/..., jaeger:4317.
var address = regexp.MustCompile(`^(?:--[a-z-]+=)?(?:https?://)?([a-z][a-z0-9-]*):([0-9]+)(?:/|$)`)

func checkContainer(t *testing.T, o *k8sObjects, where string, pod *corev1.PodTemplateSpec, c corev1.Container, volumes map[string]bool) {
	t.Helper()
	if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
		t.Errorf("%s: image %q has no pinned tag", where, c.Image)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("%s: no %s request", where, r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("%s: no %s limit", where, r)
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true and every capability dropped", where)
	}
	if len(c.Ports) > 0 {
		// A container that serves is probed; the probes name its ports.
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			switch {
			case p == nil:
				t.Errorf("%s: no %s probe", where, name)
			case p.HTTPGet != nil && !hasPort(pod, p.HTTPGet.Port.String()), p.TCPSocket != nil && !hasPort(pod, p.TCPSocket.Port.String()):
				t.Errorf("%s: the %s probe's port is not one of its ports", where, name)
			}
		}
	}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			t.Errorf("%s: mounts the undefined volume %s", where, m.Name)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	// The Go programs get a soft memory limit under the container's limit,
	// so that the runtime collects before the kernel kills.
	if isGo(c.Image) {
		limit, err := parseGoMemLimit(env["GOMEMLIMIT"])
		switch mem := c.Resources.Limits[corev1.ResourceMemory]; {
		case err != nil:
			t.Errorf("%s: GOMEMLIMIT: %v", where, err)
		case limit >= mem.Value():
			t.Errorf("%s: GOMEMLIMIT %s is not below the memory limit %s", where, env["GOMEMLIMIT"], mem.String())
		}
	}
	for _, v := range append(slices.Clone(c.Args), envValues(c.Env)...) {
		m := address.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		s := o.service(m[1])
		if s == nil || !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == m[2] }) {
			t.Errorf("%s: %q: no Service %s answers on port %s", where, v, m[1], m[2])
		}
	}
}

func envValues(env []corev1.EnvVar) []string {
	var out []string
	for _, e := range env {
		out = append(out, e.Value)
	}
	return out
}

// isGo: the images of Go programs (ours, Jaeger, VictoriaLogs, Prometheus,
// Alertmanager) honour GOMEMLIMIT; ours and the stores that buffer must set
// it.
func isGo(image string) bool {
	for _, prefix := range []string{"otelcol-rca", "jaegertracing/", "victoriametrics/"} {
		if strings.HasPrefix(image, prefix) {
			return true
		}
	}
	return false
}

// parseGoMemLimit reads GOMEMLIMIT as the Go runtime does: bytes, with an
// optional B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(v string) (int64, error) {
	if v == "" {
		return 0, errors.New("not set")
	}
	units := map[string]string{"TiB": "Ti", "GiB": "Gi", "MiB": "Mi", "KiB": "Ki", "B": ""}
	for suffix, k8s := range units {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			q, err := resource.ParseQuantity(n + k8s)
			if err != nil {
				return 0, fmt.Errorf("%q: %w", v, err)
			}
			return q.Value(), nil
		}
	}
	q, err := resource.ParseQuantity(v)
	if err != nil || strings.ContainsAny(v, "KMGTPEkmi") {
		return 0, fmt.Errorf("%q is not bytes with a B, KiB, MiB, GiB or TiB suffix", v)
	}
	return q.Value(), nil
}

func hasPort(pod *corev1.PodTemplateSpec, port string) bool {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}

// TestKubernetesCollectorsValidate: the built collector accepts the
// gateway's config and the command lines of the shards and the incident
// stage with their environment, as the pods would start them; the gateway
// routes to a headless Service that selects the shards.
func TestKubernetesCollectorsValidate(t *testing.T) {
	o := loadK8s(t)
	bin := collectorBinary(t)
	entrypoint := dockerfileEntrypoint(t)
	checked := 0
	for _, w := range o.workloads() {
		for _, c := range w.pod.Spec.Containers {
			if !strings.HasPrefix(c.Image, "otelcol-rca:") {
				continue
			}
			args := append([]string{"validate"}, entrypoint[1:]...)
			for _, a := range c.Args {
				args = append(args, localConfig(t, o, w.pod, a))
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = ".."
			cmd.Env = os.Environ()
			for _, e := range c.Env {
				cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s: %s %v: %v\n%s", w.kind, w.name, bin, args, err, out)
			}
			checked++
		}
	}
	if checked < 3 {
		t.Errorf("validated %d collector containers; want the gateway, the shards and the incident stage", checked)
	}

	var gateway struct {
		Exporters struct {
			LoadBalancing struct {
				Resolver struct {
					DNS struct {
						Hostname string `yaml:"hostname"`
						Port     string `yaml:"port"`
					} `yaml:"dns"`
				} `yaml:"resolver"`
			} `yaml:"loadbalancing"`
		} `yaml:"exporters"`
	}
	readYAML(t, filepath.Join(k8sDir, o.configMaps["otelcol-gateway"]["gateway.yaml"]), &gateway)
	dns := gateway.Exporters.LoadBalancing.Resolver.DNS
	s := o.service(dns.Hostname)
	switch {
	case s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("the gateway resolves %q, which is not a headless Service", dns.Hostname)
	case !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == dns.Port }):
		t.Errorf("the gateway sends to port %s, which Service %s does not expose", dns.Port, s.Name)
	case !slices.ContainsFunc(o.selected(s), func(w workload) bool { return w.kind == "StatefulSet" }):
		t.Errorf("Service %s does not select the rootcause StatefulSet", s.Name)
	}
}

// collectorBinary is the built distribution: $RCA_COLLECTOR, or make
// build's bin/otelcol-rca; an absolute path.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RCA_COLLECTOR")
	if bin == "" {
		bin = filepath.Join("..", "bin", "otelcol-rca")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the collector binary: %v (make build)", err)
	}
	return bin
}

// localConfig maps a --config argument to the file in this repository the
// pod would read: the image's shipped config, or a generated ConfigMap.
func localConfig(t *testing.T, o *k8sObjects, pod *corev1.PodTemplateSpec, arg string) string {
	t.Helper()
	path, ok := strings.CutPrefix(arg, "--config=")
	if !ok || strings.HasPrefix(path, "yaml:") {
		return arg
	}
	if path == "/etc/otelcol-rca/config.yaml" {
		return "--config=otelcol-config.yaml" // COPY otelcol-config.yaml in the Dockerfile
	}
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			rel, err := filepath.Rel(m.MountPath, path)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			for _, v := range pod.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					if file, ok := o.configMaps[v.ConfigMap.Name][rel]; ok {
						return "--config=" + filepath.Join("deploy", k8sDir, file)
					}
				}
			}
		}
	}
	t.Fatalf("--config=%s is neither the image's config nor a mounted ConfigMap's file", path)
	return ""
}

// dockerfileEntrypoint is the collector image's ENTRYPOINT.
func dockerfileEntrypoint(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("the Dockerfile has no ENTRYPOINT in JSON form")
	}
	var args []string
	if err := json.Unmarshal(m[1], &args); err != nil {
		t.Fatal(err)
	}
	return args
}

// TestKubernetesAlertmanagerConfigIsTheComposeOne: kustomize reads files
// under deploy/k8s only, so the Alertmanager config is a copy; it must not
// drift.
func TestKubernetesAlertmanagerConfigIsTheComposeOne(t *testing.T) {
	a, err := os.ReadFile(filepath.Join("alertmanager", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(k8sDir, "config", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("deploy/k8s/config/alertmanager.yml differs from deploy/alertmanager/alertmanager.yml; copy it")
	}
}

// stripComments drops the comment lines of a YAML document: a document of
// comments only (a file's header before its first ---) holds no object.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// TestTheTokenServiceHasASecret: the token service refuses to start without
// a signing secret of 32 bytes at least; in Kubernetes it gets one from a
// Secret of the deployment, in compose from a secret file of the repository.
func TestTheTokenServiceHasASecret(t *testing.T) {
	o := loadK8s(t)
	found := false
	for _, w := range o.workloads() {
		for _, c := range w.pod.Spec.Containers {
			if len(c.Args) == 0 || c.Args[0] != "token" {
				continue
			}
			for _, e := range c.Env {
				if e.Name != "TOKEN_SECRET" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				for _, sec := range o.secrets {
					if sec.Name == ref.Name && len(sec.StringData[ref.Key]) >= 32 {
						found = true
					}
				}
			}
		}
	}
	if !found {
		t.Error("deploy/k8s: the token container gets no TOKEN_SECRET of 32 bytes or more from a Secret of the deployment")
	}

	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Secrets     []string          `yaml:"secrets"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	readYAML(t, filepath.Join("..", "docker-compose.yml"), &compose)
	token := compose.Services["token"]
	if len(token.Secrets) != 1 || token.Environment["TOKEN_SECRET_FILE"] != "/run/secrets/"+token.Secrets[0] {
		t.Fatalf("docker-compose.yml: token needs TOKEN_SECRET_FILE=/run/secrets/<its secret>, has %v and secrets %v", token.Environment, token.Secrets)
	}
	b, err := os.ReadFile(filepath.Join("..", compose.Secrets[token.Secrets[0]].File))
	if err != nil || len(strings.TrimSpace(string(b))) < 32 {
		t.Errorf("docker-compose.yml: token's secret file %q: %d bytes, %v", compose.Secrets[token.Secrets[0]].File, len(b), err)
	}
}
