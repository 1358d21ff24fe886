package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of the CPU times in /proc.
const clockTick = 10 * time.Millisecond

// ProcCPU is the user+system CPU time process pid has used (/proc/PID/stat, in 10 ms ticks),
// so a figure per operation does not count what else the machine runs.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("testenv: %w", err)
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("testenv: /proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+2:])) // from field 3, state
	if len(f) < 13 {
		return 0, fmt.Errorf("testenv: /proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("testenv: /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// MachineCPU is the CPU time every process on the machine has used (the busy time of /proc/stat:
// user, nice, system, irq and softirq), summed over the cores.
func MachineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("testenv: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("testenv: /proc/stat: %q", line)
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("testenv: /proc/stat: %w", err)
		}
		if i == 3 || i == 4 || i >= 7 { // idle, iowait; steal is another guest's; guest is in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// APIServerPID is the process id of the running kube-apiserver.
func (e *Env) APIServerPID() (int, error) {
	if e.apiProc != nil {
		return e.apiProc.cmd.Process.Pid, nil
	}
	pid, _, err := e.findAPIServer()
	return pid, err
}
