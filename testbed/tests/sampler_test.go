package tests

import (
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// loadPhaseSampler measures CPU and RSS of the collector process while the
// load runs, every interval. The testbed's own figures
// (GetTotalConsumption) average over the whole process life, start-up and
// the decision_wait drain included; the peer comparison uses these instead.
type loadPhaseSampler struct {
	proc     *process.Process
	interval time.Duration
	skip     time.Duration // warm-up excluded from the figures

	stop chan struct{}
	done sync.WaitGroup

	mu      sync.Mutex
	res     usage
	samples int
	ramSum  float64
}

// usage is the resource use of one collector run under load.
type usage struct {
	CPUAvg, CPUMax float64 // percent of one core
	RAMAvg, RAMMax float64 // MiB RSS
	Samples        int
}

func startSampler(proc *process.Process, interval, skip time.Duration) *loadPhaseSampler {
	s := &loadPhaseSampler{proc: proc, interval: interval, skip: skip, stop: make(chan struct{})}
	s.done.Add(1)
	go s.run()
	return s
}

func cpuSeconds(p *process.Process) (float64, bool) {
	t, err := p.Times()
	if err != nil {
		return 0, false
	}
	return t.User + t.System, true
}

func (s *loadPhaseSampler) run() {
	defer s.done.Done()
	select {
	case <-time.After(s.skip):
	case <-s.stop:
		return
	}
	firstCPU, ok := cpuSeconds(s.proc)
	if !ok {
		return
	}
	first := time.Now()
	lastCPU, last := firstCPU, first
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		c, ok := cpuSeconds(s.proc)
		if !ok {
			return
		}
		mi, err := s.proc.MemoryInfo()
		if err != nil {
			return
		}
		ram := float64(mi.RSS) / (1 << 20)
		cpu := (c - lastCPU) / now.Sub(last).Seconds() * 100
		lastCPU, last = c, now

		s.mu.Lock()
		s.samples++
		s.ramSum += ram
		s.res.RAMMax = max(s.res.RAMMax, ram)
		s.res.CPUMax = max(s.res.CPUMax, cpu)
		s.res.CPUAvg = (c - firstCPU) / now.Sub(first).Seconds() * 100
		s.res.RAMAvg = s.ramSum / float64(s.samples)
		s.res.Samples = s.samples
		s.mu.Unlock()
	}
}

// Stop ends the sampling and returns the figures.
func (s *loadPhaseSampler) Stop() usage {
	close(s.stop)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res
}
