// containerd's method, for comparison: re-exec /proc/self/exe in a new user
// namespace with Ptrace (the child stops at exec), open its userns, kill,
// wait. Usage: goreexec FLAGS N → one line of per-cycle ns.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	flags, _ := strconv.ParseUint(strings.TrimPrefix(os.Args[1], "0x"), 16, 64)
	n, _ := strconv.Atoi(os.Args[2])
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 10}}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		proc, err := os.StartProcess("/proc/self/exe", []string{"UnshareAfterEnterUserns"}, &os.ProcAttr{
			Sys: &syscall.SysProcAttr{
				Cloneflags:                 syscall.CLONE_NEWUSER,
				Unshareflags:               uintptr(flags),
				UidMappings:                maps,
				GidMappings:                maps,
				GidMappingsEnableSetgroups: true,
				Ptrace:                     true,
				Pdeathsig:                  syscall.SIGKILL,
			},
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", proc.Pid)); err == nil {
			f.Close()
		}
		proc.Kill()
		proc.Wait()
		out = append(out, strconv.FormatInt(time.Since(t0).Nanoseconds(), 10))
	}
	fmt.Println(strings.Join(out, " "))
}
