package distribution

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
)

// The versions every collector module is pinned to (see README.md).
const (
	coreBeta    = "v0.148.0"
	coreStable  = "v1.54.0"
	contribPins = "v0.148.0"
)

type manifestModule struct {
	GoMod string `yaml:"gomod"`
	Path  string `yaml:"path"`
}

type manifest struct {
	Dist struct {
		Name       string `yaml:"name"`
		OutputPath string `yaml:"output_path"`
		BuildTags  string `yaml:"build_tags"`
	} `yaml:"dist"`
	Receivers  []manifestModule `yaml:"receivers"`
	Processors []manifestModule `yaml:"processors"`
	Exporters  []manifestModule `yaml:"exporters"`
	Extensions []manifestModule `yaml:"extensions"`
	Providers  []manifestModule `yaml:"providers"`
}

func (m manifest) all() []manifestModule {
	var all []manifestModule
	for _, l := range [][]manifestModule{m.Receivers, m.Processors, m.Exporters, m.Extensions, m.Providers} {
		all = append(all, l...)
	}
	return all
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "builder-config.yaml"))
	require.NoError(t, err)
	var m manifest
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	require.NoError(t, dec.Decode(&m))
	return m
}

// TestBuilderManifestMatchesComponentFolders keeps builder-config.yaml and
// the component folders in sync: every local component module is in the
// manifest under its own module path, and every local entry has a folder.
func TestBuilderManifestMatchesComponentFolders(t *testing.T) {
	root := repoRoot(t)
	m := loadManifest(t)
	assert.Equal(t, "otelcol-rca", m.Dist.Name)

	inManifest := map[string]string{} // module path -> local path
	for _, mod := range m.all() {
		if mod.Path == "" {
			continue
		}
		path, _, _ := strings.Cut(mod.GoMod, " ")
		inManifest[path] = filepath.Clean(mod.Path)
	}

	onDisk := map[string]string{}
	for _, kind := range []string{"receiver", "processor", "exporter", "extension", "connector"} {
		gomods, err := filepath.Glob(filepath.Join(root, kind, "*", "go.mod"))
		require.NoError(t, err)
		for _, gm := range gomods {
			dir, err := filepath.Rel(root, filepath.Dir(gm))
			require.NoError(t, err)
			onDisk[readModulePath(t, gm)] = dir
		}
	}
	require.NotEmpty(t, onDisk, "no component modules found")
	assert.Equal(t, onDisk, inManifest, "builder-config.yaml local components (left: folders, right: manifest)")
}

// TestBuilderManifestPins checks that upstream components use the pinned versions.
func TestBuilderManifestPins(t *testing.T) {
	for _, mod := range loadManifest(t).all() {
		path, version, ok := strings.Cut(mod.GoMod, " ")
		require.True(t, ok, "gomod %q has no version", mod.GoMod)
		if mod.Path != "" {
			continue
		}
		if want, ok := pinFor(path); ok {
			assert.Contains(t, want, version, "%s", path)
		} else {
			t.Errorf("%s: not a collector or contrib module; add its pin to this test", path)
		}
	}
}

// TestGoModulesUsePinnedCollectorVersions walks every go.mod of the
// repository: `go mod tidy` silently picks the newest version of a module it
// adds, which the module proxy here may not hold and which may not match the
// rest of the build.
func TestGoModulesUsePinnedCollectorVersions(t *testing.T) {
	root := repoRoot(t)
	var gomods []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "_build" || d.Name() == "node_modules") && path != root {
			return filepath.SkipDir
		}
		// The tools modules build mdatagen v0.147.0 (v0.148.0 is not on the
		// module proxy) and Jaeger (a test backend on its own collector
		// release), each with its own dependency set: tools, not part of the
		// distribution.
		tools := filepath.Join(root, "internal", "tools")
		if d.Name() == "go.mod" && !strings.HasPrefix(path, tools+string(filepath.Separator)) {
			gomods = append(gomods, path)
		}
		return nil
	}))
	sort.Strings(gomods)
	require.NotEmpty(t, gomods)
	for _, gm := range gomods {
		raw, err := os.ReadFile(gm)
		require.NoError(t, err)
		f, err := modfile.Parse(gm, raw, nil)
		require.NoError(t, err)
		for _, req := range f.Require {
			want, ok := pinFor(req.Mod.Path)
			if !ok {
				continue
			}
			assert.Contains(t, want, req.Mod.Version, "%s requires %s", gm, req.Mod.Path)
		}
	}
}

// pinFor returns the versions allowed for a collector or contrib module.
func pinFor(path string) ([]string, bool) {
	switch {
	case strings.HasPrefix(path, "github.com/open-telemetry/opentelemetry-collector-contrib/"):
		return []string{contribPins}, true
	case strings.HasPrefix(path, "go.opentelemetry.io/collector"):
		return []string{coreBeta, coreStable}, true
	}
	return nil, false
}

func readModulePath(t *testing.T, gomod string) string {
	t.Helper()
	raw, err := os.ReadFile(gomod)
	require.NoError(t, err)
	return modfile.ModulePath(raw)
}

// TestDockerfileBuildsTheManifest: the image build runs ocb on the same
// manifest, so it needs every local component's folder copied in, and the
// Makefile's GONOSUMDB (modules the checksum database does not know), or
// `docker build` fails where `make build` passes.
func TestDockerfileBuildsTheManifest(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	dockerfile := string(raw)
	for _, mod := range loadManifest(t).all() {
		if mod.Path == "" {
			continue
		}
		top := strings.SplitN(strings.TrimPrefix(mod.Path, "./"), "/", 2)[0]
		assert.Contains(t, dockerfile, "\nCOPY "+top+"/ "+top+"/\n", "the image build needs %s (manifest path %s)", top, mod.Path)
	}
	assert.Contains(t, dockerfile, "\nCOPY cmd/ cmd/\n", "the image build needs cmd/otelcol-rca, the main package's own sources")
	assert.Contains(t, dockerfile, "cp cmd/otelcol-rca/*.go _build/", "and copies them beside ocb's, as `make build` does")
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	want := regexp.MustCompile(`(?m)^export GONOSUMDB := (.+)$`).FindSubmatch(makefile)
	require.NotNil(t, want, "the Makefile exports GONOSUMDB")
	got := regexp.MustCompile(`(?m)^ENV GONOSUMDB=(.+)$`).FindStringSubmatch(dockerfile)
	require.NotNil(t, got, "the Dockerfile sets GONOSUMDB")
	assert.Equal(t, strings.TrimSpace(string(want[1])), strings.TrimSpace(got[1]))
}

// TestMainSourcesHaveTheManifestsBuildTag: the main package's own sources
// (cmd/otelcol-rca) are built only under the manifest's build tag, so that
// the repository's module, which has no main for them, skips them; a file
// without it would break `go build ./...`, one with another tag would be
// left out of the distribution.
func TestMainSourcesHaveTheManifestsBuildTag(t *testing.T) {
	tag := loadManifest(t).Dist.BuildTags
	require.NotEmpty(t, tag, "builder-config.yaml: dist.build_tags")
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "cmd", "otelcol-rca", "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(raw), "//go:build "+tag+"\n"), "%s starts with //go:build %s", f, tag)
	}
}
