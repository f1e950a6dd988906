package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "payment-gateway") {
		t.Errorf("no args: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"nope"}, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown service "nope"`) {
		t.Errorf("unknown service: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"catalog", "--products", "0"}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--products") {
		t.Errorf("bad flag: exit %d, %q", code, stderr.String())
	}
}
