package pid1

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDiscardPending: a signal sent to a thread that blocks every signal
// (the launcher thread between runs) is dropped by discardPending, never
// delivered once the thread unblocks signals (for the next run's fork,
// where the init would forward it to that run's command). The control,
// without discardPending, sees it delivered.
func TestDiscardPending(t *testing.T) {
	for _, discard := range []bool{true, false} {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGUSR1)
		runtime.LockOSThread()
		if err := blockSignals(); err != nil {
			t.Fatal(err)
		}
		if err := unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if discard {
			discardPending()
		}
		unblockSignals()
		runtime.UnlockOSThread()
		select {
		case <-c:
			if discard {
				t.Error("a signal pending on a thread that blocked it was delivered after discardPending")
			}
		case <-time.After(time.Second):
			if !discard {
				t.Error("control: the pending signal was not delivered once unblocked: the test shows nothing")
			}
		}
		signal.Stop(c)
	}
}
