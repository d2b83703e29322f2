package sensor

import (
	"time"

	"golang.org/x/sys/unix"
)

// kernelClock converts bpf_ktime_get_ns (CLOCK_MONOTONIC) to wall time.
type kernelClock struct{ offset int64 }

func newKernelClock() kernelClock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return kernelClock{offset: time.Now().UnixNano() - ts.Nano()}
}

func (c kernelClock) wall(mono uint64) time.Time { return time.Unix(0, int64(mono)+c.offset).UTC() }
