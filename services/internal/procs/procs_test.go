package procs

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStopGroup(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	var out bytes.Buffer
	// The shell traps TERM and exits cleanly; its child sleep is in the same group.
	p, err := Start("sh", sh, []string{"-c", `trap 'echo bye; exit 0' TERM; sleep 30 & wait`}, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !strings.Contains(out.String(), "bye") {
		t.Errorf("output %q lacks the TERM trap's bye", out.String())
	}
	// The shell's child sleep, killed by the same TERM, is reparented to init and
	// stays in the group as a zombie until init reaps it: give it a moment.
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(-p.Pid(), 0) == nil {
		if time.Now().After(deadline) {
			t.Error("process group still has members after Stop")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStopKillsStubborn(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p, err := Start("stubborn", sh, []string{"-c", `trap '' TERM; while :; do sleep 0.05; done`}, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.Stop(300 * time.Millisecond); err == nil {
		t.Fatal("Stop = nil, want a killed error")
	}
}
