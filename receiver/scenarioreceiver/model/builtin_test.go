package model

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"
)

func TestBuiltinsParse(t *testing.T) {
	require.Len(t, builtin.Names(), 3)
	for _, name := range builtin.Names() {
		data, err := builtin.YAML(name)
		require.NoError(t, err)
		sc, err := Parse(data)
		require.NoError(t, err, name)
		require.Equal(t, name, sc.Name)
	}
}
