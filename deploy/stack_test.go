package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What TestDeploymentsStart (deployments_test.go) runs the deployment files
// with: the images, their containers as an engine would run them here, and
// the containers' processes.

// image is what a container starts from: the final stage of its Dockerfile.
type image struct {
	entrypoint, cmd []string
	env             []string
	files           []imageFile
}

// argv is the command line of a container of the image: an entrypoint
// (compose's entrypoint, Kubernetes' command) replaces the image's
// ENTRYPOINT and drops its CMD; a command (compose's command, Kubernetes'
// args) replaces CMD.
func (img *image) argv(entrypoint, cmd []string) []string {
	if entrypoint == nil {
		entrypoint = img.entrypoint
		if cmd == nil {
			cmd = img.cmd
		}
	}
	return append(slices.Clone(entrypoint), cmd...)
}

// imageFile is a file or directory the image holds at path, taken from host:
// from the build context (a configuration, which names hosts) or from what
// the build stage left in /out (binaries; an empty directory each container
// writes in).
type imageFile struct {
	path, host  string
	fromContext bool
}

// buildImages builds what the build stage of each Dockerfile leaves in /out,
// as that stage builds it, and reads each image's final stage. The images
// are keyed by the name docker-compose.yml gives the one it builds from each
// Dockerfile; the Kubernetes manifests use the same names.
func buildImages(t *testing.T) map[string]*image {
	t.Helper()
	dir := t.TempDir()
	collector := collectorBinary(t)

	// deploy/services.Dockerfile: httpcheck, and every main package of the
	// services module (rca-services, rca-demo, loadgen).
	services := filepath.Join(dir, "services-out")
	goBuild(t, ".", filepath.Join(services, "httpcheck"), "./cmd/httpcheck")
	goBuild(t, filepath.Join("..", "services"), services+string(filepath.Separator), "./...")
	// Dockerfile: the distribution (make build's, the same manifest),
	// httpcheck, and the empty directory of the exporters' queues.
	otelcol := filepath.Join(dir, "otelcol-out")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(otelcol, "storage"), 0o755),
		os.Symlink(collector, filepath.Join(otelcol, "otelcol-rca")),
		os.Symlink(filepath.Join(services, "httpcheck"), filepath.Join(otelcol, "httpcheck")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]string{"Dockerfile": otelcol, "deploy/services.Dockerfile": services}

	var compose composeFile
	readYAML(t, filepath.Join("..", "docker-compose.yml"), &compose)
	images := map[string]*image{}
	for name, s := range compose.Services {
		if s.Build == nil {
			continue
		}
		dockerfile := path.Join(s.Build.Context, s.Build.Dockerfile)
		if out[dockerfile] == "" {
			t.Fatalf("service %s builds %s, whose build stage this test does not build; teach it", name, dockerfile)
		}
		images[s.Image] = readDockerfile(t, dockerfile, out[dockerfile])
	}
	return images
}

// repoFile is the absolute path of a file of the repository: the
// containers run in directories of their own.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func goBuild(t *testing.T, moduleDir, output string, pkgs ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build", "-o", output}, pkgs...)...)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v in %s: %v\n%s", pkgs, moduleDir, err, out)
	}
}

// readDockerfile reads the final stage of a Dockerfile of the repository:
// ENTRYPOINT and CMD (JSON form), ENV, and the files it COPYs, from the build
// context or from the build stage's /out (the directory out here).
func readDockerfile(t *testing.T, dockerfile, out string) *image {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	var stage []string
	for _, line := range strings.Split(strings.ReplaceAll(string(raw), "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "FROM ") {
			stage = nil
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			stage = append(stage, line)
		}
	}
	img := &image{}
	for _, line := range stage {
		instr, rest, _ := strings.Cut(line, " ")
		switch instr {
		case "ENTRYPOINT", "CMD":
			var args []string
			if err := json.Unmarshal([]byte(rest), &args); err != nil {
				t.Fatalf("%s: %s is not in JSON form: %v", dockerfile, line, err)
			}
			if instr == "ENTRYPOINT" {
				img.entrypoint = args
			} else {
				img.cmd = args
			}
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				if !strings.Contains(kv, "=") || strings.ContainsAny(kv, `"'$`) {
					t.Fatalf("%s: %s: this test reads ENV KEY=VALUE only; teach it", dockerfile, line)
				}
				img.env = append(img.env, kv)
			}
		case "COPY":
			var from string
			var args []string
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(f, "--") {
					args = append(args, f)
				}
			}
			dst := args[len(args)-1]
			for _, src := range args[:len(args)-1] {
				target := dst
				if strings.HasSuffix(dst, "/") && !strings.HasSuffix(src, "/") {
					target = dst + path.Base(src)
				}
				f := imageFile{path: path.Clean(target), fromContext: from == ""}
				switch rel, ok := strings.CutPrefix(src, "/out"); {
				case from == "":
					f.host = repoFile(t, src)
				case ok && (rel == "" || strings.HasPrefix(rel, "/")):
					f.host = filepath.Join(out, rel)
				default:
					t.Fatalf("%s: %s: the build stage's outputs are in /out; teach this test where else", dockerfile, line)
				}
				img.files = append(img.files, f)
			}
		case "FROM", "USER", "EXPOSE":
		default:
			t.Fatalf("%s: %s: the final stage has an instruction this test does not apply; teach it", dockerfile, line)
		}
	}
	if len(img.entrypoint) == 0 {
		t.Fatalf("%s: the final stage has no ENTRYPOINT", dockerfile)
	}
	return img
}

// container is one container of a deployment file, as its engine would run
// it here.
type container struct {
	name string
	addr string // its loopback address
	root string // its own file system's directory: /tmp, home, volumes, configurations
	// argv and env are as in the container; run translates them.
	argv, env []string
	// mounts maps each container path to a host path: the image's files,
	// volumes, secrets, ConfigMaps.
	mounts map[string]string
	// dependsOn maps a container to the condition this one waits for
	// (service_healthy, service_started); skipped are the third-party ones.
	dependsOn map[string]string
	skipped   map[string]bool
	// check says whether it is healthy; a permanentError fails it at once.
	check func(ctx context.Context, p *proc) error
	// init is a pod's init containers: each runs until it exits 0, in
	// order, before this one starts.
	init []*container
	// within is how long its file gives it to turn healthy, and why.
	within    time.Duration
	withinWhy string
}

type permanentError struct{ error }

// stack is the containers of one deployment file, and every name they may
// reach, with its address.
type stack struct {
	dir        string
	addrs      map[string]string
	containers []*container
	// whileUp, when set, checks the stack once every container has
	// settled, before it is stopped: failures by container name.
	whileUp func() map[string]error
}

// newStack gives every name its own loopback address, in 127.0.<block>.0/24.
func newStack(t *testing.T, block int, names []string) *stack {
	t.Helper()
	s := &stack{dir: t.TempDir(), addrs: map[string]string{}}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > 254 {
		t.Fatalf("%d names do not fit in 127.0.%d.0/24", len(names), block)
	}
	for i, n := range names {
		s.addrs[n] = fmt.Sprintf("127.0.%d.%d", block, i+1)
	}
	return s
}

// newContainer starts a container from img: its root directory, its own
// /tmp and home, the image's files (a configuration copied there with its
// host names translated, an empty directory made there).
func (s *stack) newContainer(t *testing.T, name string, img *image) *container {
	t.Helper()
	c := &container{
		name: name, addr: s.addrs[name], root: filepath.Join(s.dir, name),
		mounts: map[string]string{}, dependsOn: map[string]string{}, skipped: map[string]bool{},
	}
	if c.addr == "" {
		t.Fatalf("%s has no address", name)
	}
	// What the engine sets: the host name, the home of the images' user
	// (nonroot). TMPDIR is /tmp, as Go programs assume without it: set, so
	// that they find the container's own.
	c.env = []string{"HOSTNAME=" + name, "HOME=/home/nonroot", "TMPDIR=/tmp"}
	for _, dir := range []string{"/home/nonroot", "/tmp"} {
		c.mounts[dir] = c.mkdir(t, dir)
	}
	c.env = append(c.env, img.env...)
	for _, f := range img.files {
		st, err := os.Stat(f.host)
		switch {
		case err != nil:
			t.Fatalf("%s: the image's %s: %v", name, f.path, err)
		case f.fromContext && !st.IsDir():
			c.mounts[f.path] = s.translatedCopy(t, c, f.path, f.host)
		case st.IsDir() && isEmptyDir(t, f.host):
			c.mounts[f.path] = c.mkdir(t, f.path)
		default:
			c.mounts[f.path] = f.host
		}
	}
	return c
}

func (c *container) mkdir(t *testing.T, containerPath string) string {
	t.Helper()
	dir := filepath.Join(c.root, filepath.FromSlash(containerPath))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func isEmptyDir(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries) == 0
}

// translatedCopy writes the configuration file host into the container's
// root at containerPath, with its host names translated as the container
// sees them.
func (s *stack) translatedCopy(t *testing.T, c *container, containerPath, host string) string {
	t.Helper()
	raw, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(c.root, filepath.FromSlash(containerPath))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte(s.hosts(c, string(raw))), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// hostToken is a word that may be a host name; portNext, what follows a
// host name and port.
var (
	hostToken = regexp.MustCompile(`[A-Za-z0-9_][A-Za-z0-9_.-]*`)
	portNext  = regexp.MustCompile(`^:[0-9]`)
)

// hosts writes addresses for the names in v that name a host: a known name
// followed by :port or preceded by scheme://, and localhost and 0.0.0.0,
// which are the container's own address, wherever they are. A known name
// elsewhere is a word (`payment`, the service rca-services runs) and stays.
func (s *stack) hosts(c *container, v string) string {
	var b strings.Builder
	last := 0
	for _, m := range hostToken.FindAllStringIndex(v, -1) {
		word := v[m[0]:m[1]]
		addr, known := s.addrs[word]
		switch {
		case word == "localhost" || word == "0.0.0.0":
			addr = c.addr
		case known && (portNext.MatchString(v[m[1]:]) || strings.HasSuffix(v[:m[0]], "//")):
		default:
			continue
		}
		b.WriteString(v[last:m[0]])
		b.WriteString(addr)
		last = m[1]
	}
	b.WriteString(v[last:])
	return b.String()
}

// absPath is an absolute path at the start of a value or after its =.
var absPath = regexp.MustCompile(`(^|=)(/[^\s,;"']*)`)

// translate is v as the container sees it, here: host names and paths.
func (s *stack) translate(c *container, v string) (string, error) {
	var err error
	v = absPath.ReplaceAllStringFunc(s.hosts(c, v), func(m string) string {
		prefix, p := "", m
		if strings.HasPrefix(m, "=") {
			prefix, p = "=", m[1:]
		}
		host, ok := c.hostPath(p)
		if !ok {
			err = fmt.Errorf("%s is neither in the image nor mounted", p)
			return m
		}
		return prefix + host
	})
	return v, err
}

// hostPath is where the container's path p is here: under the longest mount
// that holds it.
func (c *container) hostPath(p string) (string, bool) {
	p = path.Clean(p)
	best := ""
	for m := range c.mounts {
		if (p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		return "", false
	}
	return filepath.Join(c.mounts[best], filepath.FromSlash(strings.TrimPrefix(p, best))), true
}

// execCheck is a health check that runs a command in the container: healthy
// when it exits 0 within timeout.
func (s *stack) execCheck(c *container, argv []string, timeout time.Duration) func(context.Context, *proc) error {
	return func(ctx context.Context, _ *proc) error {
		args, err := s.translateAll(c, argv)
		if err != nil {
			return permanentError{fmt.Errorf("health check %v: %w", argv, err)}
		}
		env, err := s.translateAll(c, c.env)
		if err != nil {
			return permanentError{fmt.Errorf("health check %v: environment: %w", argv, err)}
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env, cmd.Dir = env, c.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("health check %v: %w: %s", argv, err, bytes.TrimSpace(out))
		}
		return nil
	}
}

func (s *stack) translateAll(c *container, vs []string) ([]string, error) {
	out := make([]string, len(vs))
	var errs []error
	for i, v := range vs {
		var err error
		out[i], err = s.translate(c, v)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// outputCheck is the health of a program the files give no health check:
// it prints ready once it works, failed when it could not.
type outputCheck struct{ ready, failed string }

// undeclaredHealth is how each program that declares no health check shows
// that it works. The load generator serves nothing; it announces its
// journeys once it has registered its users through user (which reaches
// database), and says so when it could not.
var undeclaredHealth = map[string]outputCheck{
	"/usr/local/bin/loadgen": {ready: "journeys/s", failed: "loadgen: setup:"},
}

// undeclaredWithin is how long a program without a declared health check
// has to show it works: no file says.
const undeclaredWithin = time.Minute

func (c *container) checkOutput(t *testing.T) {
	t.Helper()
	oc, ok := undeclaredHealth[c.argv[0]]
	if !ok {
		t.Fatalf("%s: %s declares no health check, and this test does not know how it shows it works; teach it", c.name, c.argv[0])
	}
	c.within, c.withinWhy = undeclaredWithin, "no health check declared; "+c.argv[0]+" says so when it works"
	c.check = func(context.Context, *proc) error {
		out, err := os.ReadFile(outputPath(c))
		switch {
		case err != nil:
			return err
		case bytes.Contains(out, []byte(oc.failed)):
			return permanentError{fmt.Errorf("it printed %q", oc.failed)}
		case !bytes.Contains(out, []byte(oc.ready)):
			return fmt.Errorf("it has not printed %q", oc.ready)
		}
		return nil
	}
}

// outputPath is the file a container's output goes to.
func outputPath(c *container) string { return filepath.Join(c.root, "output.log") }

// proc is a container's process.
type proc struct {
	c                        *container
	cmd                      *exec.Cmd
	started, healthy, failed chan struct{}
	exited                   chan struct{}
	waitErr                  error
	stopOnce                 sync.Once
	logf                     func(format string, args ...any)
}

// runStack starts the stack's containers, each once what it depends on is
// up, and waits until each has turned healthy or failed. It returns the
// failures by container, and stops every process before it returns.
func runStack(t *testing.T, s *stack) map[string]error {
	t.Helper()
	procs := map[string]*proc{}
	for _, c := range s.containers {
		procs[c.name] = &proc{
			c: c, started: make(chan struct{}), healthy: make(chan struct{}), failed: make(chan struct{}), exited: make(chan struct{}),
			logf: t.Logf,
		}
	}
	// Bounds the waits for a dependency in a file whose times add up to
	// more: no container's own time does.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	defer stopAll(procs)

	var mu sync.Mutex
	failures := map[string]error{}
	var wg sync.WaitGroup
	start := time.Now()
	for _, p := range procs {
		wg.Go(func() {
			err := p.run(ctx, t, s, procs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures[p.c.name] = err
				close(p.failed)
				return
			}
			t.Logf("%s (%s) healthy %.1fs into the stack", p.c.name, p.c.addr, time.Since(start).Seconds())
			close(p.healthy)
		})
	}
	wg.Wait()
	// What turned healthy must still run now that all have settled.
	for name, p := range procs {
		select {
		case <-p.exited:
			if failures[name] == nil {
				failures[name] = fmt.Errorf("exited (%s) after turning healthy; its output ends:\n%s", p.exitStatus(), p.tail())
			}
		default:
		}
	}
	if s.whileUp != nil {
		for name, err := range s.whileUp() {
			if failures[name] == nil {
				failures[name] = err
			}
		}
	}
	return failures
}

func (p *proc) run(ctx context.Context, t *testing.T, s *stack, procs map[string]*proc) error {
	for _, dep := range slices.Sorted(maps.Keys(p.c.dependsOn)) {
		d, cond := procs[dep], p.c.dependsOn[dep]
		up := d.healthy
		switch cond {
		case "service_healthy":
		case "service_started", "":
			up = d.started
		default:
			return fmt.Errorf("depends on %s with condition %q, which this test does not know", dep, cond)
		}
		select {
		case <-up:
		case <-d.failed:
			return fmt.Errorf("not started: it waits for %s (%s), which failed", dep, cond)
		case <-ctx.Done():
			return fmt.Errorf("not started: still waiting for %s (%s)", dep, cond)
		}
	}
	for dep := range p.c.skipped {
		t.Logf("%s: its dependency %s is a third-party image, not run here; counted as up", p.c.name, dep)
	}

	for _, ic := range p.c.init {
		if err := p.runInit(ctx, s, ic); err != nil {
			return err
		}
	}
	cmd, out, err := s.command(p.c)
	if err != nil {
		return err
	}
	defer out.Close()
	p.cmd = cmd
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %v: %w", cmd.Args, err)
	}
	t.Cleanup(p.stop) // should the test end before runStack stops it
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	close(p.started)

	// Checked more often than the files' intervals, which space the checks of
	// a long-running stack; the time each is given is the file's.
	deadline := time.Now().Add(p.c.within)
	for {
		err := p.c.check(ctx, p)
		if err == nil {
			return nil
		}
		if perm := (permanentError{}); errors.As(err, &perm) {
			return fmt.Errorf("unhealthy: %w; its output ends:\n%s", err, p.tail())
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited (%s) before turning healthy; its output ends:\n%s", p.exitStatus(), p.tail())
		case <-ctx.Done():
			return fmt.Errorf("not healthy when the test gave up: %w; its output ends:\n%s", err, p.tail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %v (%s): %w; its output ends:\n%s", p.c.within, p.c.withinWhy, err, p.tail())
		}
	}
}

// command is the container's process, its output appended to the file
// outputPath gives.
func (s *stack) command(c *container) (*exec.Cmd, *os.File, error) {
	argv, err := s.translateAll(c, c.argv)
	if err != nil {
		return nil, nil, fmt.Errorf("command %v: %w", c.argv, err)
	}
	env, err := s.translateAll(c, c.env)
	if err != nil {
		return nil, nil, fmt.Errorf("environment: %w", err)
	}
	out, err := os.OpenFile(outputPath(c), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env // exactly the container's: nothing of the test's own
	cmd.Dir = c.root
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, killed with the test should the test die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, out, nil
}

// runInit runs an init container until it exits 0, as the kubelet reruns a
// failed one (at once here, where the kubelet's backoff would only space
// the attempts).
func (p *proc) runInit(ctx context.Context, s *stack, ic *container) error {
	ctx, cancel := context.WithTimeout(ctx, ic.within)
	defer cancel()
	for {
		cmd, out, err := s.command(ic)
		if err != nil {
			return fmt.Errorf("init container: %w", err)
		}
		err = cmd.Start()
		if err == nil {
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err = <-exited:
			case <-ctx.Done():
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				err = <-exited
			}
		}
		out.Close()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not started: its init container %v has not succeeded within %v (%s): %w; the output ends:\n%s", ic.argv, ic.within, ic.withinWhy, err, p.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopAll stops the processes as compose does, each after those that depend
// on it: a service flushes its telemetry to a collector that still runs.
func stopAll(procs map[string]*proc) {
	stopped := map[string]chan struct{}{}
	for name := range procs {
		stopped[name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for name, p := range procs {
		wg.Go(func() {
			for _, q := range procs {
				if _, ok := q.c.dependsOn[name]; ok {
					<-stopped[q.c.name]
				}
			}
			p.stop()
			close(stopped[name])
		})
	}
	wg.Wait()
}

// stopGrace is how long a process has to stop on SIGTERM before SIGKILL:
// shorter than the files' (10 s in compose, 30-60 s in Kubernetes), which
// give a collector time to flush to its backends, absent here.
const stopGrace = 5 * time.Second

// stop sends SIGTERM to the process group, and SIGKILL after stopGrace.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		if p.cmd == nil || p.cmd.Process == nil {
			return
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			p.logf("%s did not stop within %v of SIGTERM; killed", p.c.name, stopGrace)
		}
	})
}

// exitStatus says how the process ended; valid once exited is closed.
func (p *proc) exitStatus() string {
	if p.waitErr == nil {
		return "exit status 0"
	}
	return p.waitErr.Error()
}

// tail is the end of the container's output: the last lines, each cut short.
func (p *proc) tail() string {
	raw, err := os.ReadFile(outputPath(p.c))
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 400 {
			line = line[:400] + "…"
		}
		lines = append(lines, "\t"+line)
	}
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
