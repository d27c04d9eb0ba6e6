package ffmpegpath

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// benchPush is how long each resource benchmark publishes.
const benchPush = 5 * time.Second

// BenchmarkResources reports CPU and memory of N concurrent pushes of the
// sample to nginx-rtmp, for each driver of this build (exec always; libav
// with -tags libav), side by side:
//
//	cpu-%      CPU time / wall time of the whole push (ffmpeg children and
//	           this process), in percent of one core
//	rss-MiB    resident memory: the ffmpeg children's VmRSS added up (exec),
//	           or this process's VmRSS growth (libav)
//	pss-MiB    proportional set size, shared library pages split among
//	           the processes that map them (exec children; libav: growth)
func BenchmarkResources(b *testing.B) {
	for _, drv := range []string{DriverExec, DriverLibav} {
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/streams=%d", drv, n), func(b *testing.B) {
				if _, err := New(Settings{Driver: drv}); err != nil {
					b.Skip(err)
				}
				for i := 0; i < b.N; i++ {
					benchStreams(b, drv, n)
				}
			})
		}
	}
}

// usage is CPU and memory at one moment.
type usage struct {
	cpu      time.Duration
	rss, pss int64 // bytes
}

func benchStreams(b *testing.B, drv string, n int) {
	ng := testpeer.StartNginx(b)
	before := selfUsage()
	runs := make([]*running, n)
	for i := range runs {
		s := sampleSettings(b, fmt.Sprintf("%s/bench%d", ng.AppURL, i))
		s.Driver = drv
		d, err := New(s)
		if err != nil {
			b.Fatal(err)
		}
		runs[i] = startRun(b, d, 0)
	}
	for _, r := range runs {
		r.waitLive(b, 30*time.Second)
	}
	start := time.Now()
	startSelf, startChildren := selfUsage(), childrenUsage()
	select {
	case <-time.After(benchPush):
	case err := <-runs[0].done:
		b.Fatalf("a push ended: %v", err)
	}
	wall := time.Since(start)
	children := childrenUsage()
	self := selfUsage()
	for _, r := range runs {
		r.cancel()
		if err := r.wait(b, 10*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	cpu := self.cpu - startSelf.cpu + children.cpu - startChildren.cpu
	rss, pss := children.rss, children.pss
	if drv == DriverLibav {
		rss, pss = self.rss-before.rss, self.pss-before.pss
	}
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(pss)/(1<<20), "pss-MiB")
}

// selfUsage is this process's CPU time and memory.
func selfUsage() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	u.rss, u.pss = memOf(os.Getpid())
	return u
}

// childrenUsage adds up the CPU time and memory of this process's live
// ffmpeg children.
func childrenUsage() usage {
	var u usage
	tick := int64(100) // USER_HZ on Linux
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || !strings.Contains(string(b), "(ffmpeg)") {
			continue
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
		if len(f) < 13 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		u.cpu += time.Duration((ut + st) * int64(time.Second) / tick)
		rss, pss := memOf(pid)
		u.rss += rss
		u.pss += pss
	}
	return u
}

// memOf reads a process's Rss and Pss from /proc/PID/smaps_rollup.
func memOf(pid int) (rss, pss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "Rss:":
			rss = kb << 10
		case "Pss:":
			pss = kb << 10
		}
	}
	return rss, pss
}

// BenchmarkKill9Detection measures how long after a kill -9 of the ffmpeg
// child Run returns its process verdict (target: 500 ms).
func BenchmarkKill9Detection(b *testing.B) {
	ng := testpeer.StartNginx(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("/k9bench%d", i)
		r := startRun(b, &Exec{Settings: sampleSettings(b, ng.AppURL+name)}, 0)
		r.waitLive(b, 20*time.Second)
		pid := ffmpegChild(b, os.Getpid(), name)
		killed := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		err := r.wait(b, 5*time.Second)
		total += r.ended.Sub(killed)
		if v := verdictOf(b, err); v.Layer != health.LayerProcess {
			b.Fatalf("verdict %v", v)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/detect")
}

// BenchmarkStop measures a clean stop: from ctx cancel (SIGINT, unpublish)
// to Run returning nil, for each driver of this build.
func BenchmarkStop(b *testing.B) {
	for _, drv := range []string{DriverExec, DriverLibav} {
		b.Run(drv, func(b *testing.B) {
			if _, err := New(Settings{Driver: drv}); err != nil {
				b.Skip(err)
			}
			ng := testpeer.StartNginx(b)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				s := sampleSettings(b, fmt.Sprintf("%s/stop%d", ng.AppURL, i))
				s.Driver = drv
				d, _ := New(s)
				r := startRun(b, d, 0)
				r.waitLive(b, 20*time.Second)
				stop := time.Now()
				r.cancel()
				if err := r.wait(b, 10*time.Second); err != nil {
					b.Fatal(err)
				}
				total += r.ended.Sub(stop)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/stop")
		})
	}
}
