package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux architecture fmspush runs on).
const clockTick = 10 * time.Millisecond

// ProcSample is one reading of a process from /proc.
type ProcSample struct {
	PID     int
	Comm    string
	PPID    int
	CPU     time.Duration // utime+stime
	RSS     int64         // bytes (VmRSS)
	RSSAnon int64         // bytes (RssAnon: heap, stacks; no file-backed pages of the binary)
	FDs     int
	Threads int
}

// ReadProc reads pid's CPU time, RSS, threads and open descriptors.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{PID: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	open := bytes.IndexByte(stat, '(')
	end := bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return s, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	s.Comm = string(stat[open+1 : end])
	f := strings.Fields(string(stat[end+1:]))
	// f[0] is the state (field 3); utime is field 14, stime 15, threads 20.
	if len(f) < 18 {
		return s, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	s.PPID, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(ut+st) * clockTick
	s.Threads, _ = strconv.Atoi(f[17])
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				s.RSS = kib(v)
			}
			if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
				s.RSSAnon = kib(v)
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.FDs = len(ents)
	}
	return s, nil
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10
}

// Children returns the live direct children of pid, optionally only those
// whose command name is comm.
func Children(pid int, comm string) []ProcSample {
	var out []ProcSample
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cpid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		s, err := ReadProc(cpid)
		if err != nil || s.PPID != pid || (comm != "" && s.Comm != comm) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Usage is a reading of the service process and its children.
type Usage struct {
	At       time.Time
	Main     ProcSample
	Children map[int]ProcSample
}

// ReadUsage samples pid and its children.
func ReadUsage(pid int) (Usage, error) {
	u := Usage{At: time.Now(), Children: map[int]ProcSample{}}
	m, err := ReadProc(pid)
	if err != nil {
		return u, err
	}
	u.Main = m
	for _, c := range Children(pid, "") {
		u.Children[c.PID] = c
	}
	return u, nil
}

// Delta is the CPU used between two readings: by the main process, and by
// children alive at both readings (children that came and went are not
// counted, and reported in Churn).
type Delta struct {
	Wall        time.Duration
	MainCPU     time.Duration
	ChildCPU    time.Duration
	MainRSS     int64 // at the second reading
	ChildRSS    int64 // sum over the children at the second reading
	NumChildren int
	Churn       int // children that were not alive at both readings
}

// Sub returns the usage from a to b.
func (b Usage) Sub(a Usage) Delta {
	d := Delta{Wall: b.At.Sub(a.At), MainCPU: b.Main.CPU - a.Main.CPU, MainRSS: b.Main.RSS}
	for pid, c := range b.Children {
		d.ChildRSS += c.RSS
		d.NumChildren++
		if p, ok := a.Children[pid]; ok {
			d.ChildCPU += c.CPU - p.CPU
		} else {
			d.Churn++
		}
	}
	for pid := range a.Children {
		if _, ok := b.Children[pid]; !ok {
			d.Churn++
		}
	}
	return d
}

// SchedCPU is the CPU time of every live thread of pid from
// /proc/PID/task/TID/schedstat (nanoseconds, unlike utime+stime's 10 ms
// ticks): what a window of a few seconds at under 1% of a core needs.
func SchedCPU(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		sum += time.Duration(ns)
	}
	return sum, nil
}

// WaitedChildrenCPU is the CPU time of pid's children that ended and were
// waited for (cutime+cstime in /proc/PID/stat): a probe's short-lived
// process counts in the service's cost.
func WaitedChildrenCPU(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(cu+cs) * clockTick
}
