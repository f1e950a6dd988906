package rootcauseprocessor // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/baseline"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"
)

// stateKey names the saved state in the storage client; its version is in
// the value, so that a later layout can read or skip an older one.
const (
	stateKey     = "state"
	stateVersion = 1
)

// savedState is what outlives the process: the open incidents and the
// learned baselines.
type savedState struct {
	Version   int              `json:"version"`
	Incidents []incident.Saved `json:"incidents"`
	Baselines []baseline.Saved `json:"baselines,omitempty"`
}

// stateStore keeps the processor's saved state in a storage extension's
// client (the `storage` setting).
type stateStore struct {
	client storage.Client
	logger *zap.Logger
}

// openState connects to the configured storage extension and returns what
// the previous run saved; a nil store when none is configured. State that
// cannot be read is logged and skipped: the processor starts fresh rather
// than not at all.
func openState(ctx context.Context, host component.Host, id component.ID, storageID *component.ID, logger *zap.Logger) (*stateStore, savedState, error) {
	if storageID == nil {
		return nil, savedState{}, nil
	}
	extensions := host.GetExtensions()
	ext, ok := extensions[*storageID]
	if !ok {
		// Validate cannot see the host's extensions: a mistyped ID is
		// first caught here, and the collector does not start.
		return nil, savedState{}, missingExtension(*storageID, extensions)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, savedState{}, fmt.Errorf("storage: extension %q is not a storage extension (e.g. file_storage)", storageID)
	}
	client, err := se.GetClient(ctx, component.KindProcessor, id, "")
	if err != nil {
		return nil, savedState{}, fmt.Errorf("storage: client of %q: %w", storageID, err)
	}
	st := &stateStore{client: client, logger: logger}
	var saved savedState
	raw, err := client.Get(ctx, stateKey)
	switch {
	case err != nil:
		logger.Warn("Reading the saved state failed; starting without it.", zap.Error(err))
	case raw == nil:
	case json.Unmarshal(raw, &saved) != nil || saved.Version != stateVersion:
		logger.Warn("The saved state is unreadable or of another version; starting without it.", zap.Int("bytes", len(raw)))
		saved = savedState{}
	}
	return st, saved, nil
}

// missingExtension names the storage ID that is not among the collector's
// extensions and lists those that are, so that a typo shows at once.
func missingExtension(id component.ID, extensions map[component.ID]component.Component) error {
	if len(extensions) == 0 {
		return fmt.Errorf("storage: no extension %q; the collector has none: define it under extensions and list it in service::extensions", id)
	}
	ids := make([]string, 0, len(extensions))
	for e := range extensions {
		ids = append(ids, e.String())
	}
	slices.Sort(ids)
	return fmt.Errorf("storage: no extension %q; the collector's extensions (service::extensions) are: %s", id, strings.Join(ids, ", "))
}

// save writes the state; a failure is logged, and the next save retries.
func (s *stateStore) save(ctx context.Context, state savedState) {
	state.Version = stateVersion
	raw, err := json.Marshal(state)
	if err == nil {
		err = s.client.Set(ctx, stateKey, raw)
	}
	if err != nil {
		s.logger.Warn("Saving the state failed.", zap.Error(err))
	}
}

func (s *stateStore) close(ctx context.Context) error {
	return s.client.Close(ctx)
}
