package ffmpegpath

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// helperEnv makes the test binary act as a parent of ffmpeg (a stand-in
// for fmspush): it pushes the sample to the target named by the variable
// until it is killed.
const (
	helperEnv    = "FFMPEGPATH_HELPER_TARGET"
	helperSample = "FFMPEGPATH_HELPER_SAMPLE"
)

func helperMain() {
	e := &Exec{Settings: Settings{Source: SampleSource, SampleFile: os.Getenv(helperSample),
		Target: os.Getenv(helperEnv), StaleTimeout: time.Hour}}
	e.Run(context.Background(), 0, health.NewSignals())
	os.Exit(3)
}

func TestKilledParentLeavesNoFFmpeg(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/orphan")
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+s.Target, helperSample+"="+s.SampleFile)
	helper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, helper.Start())
	pid := ffmpegChild(t, helper.Process.Pid, "/orphan")
	stopProcess(t, pid)
	killed := time.Now()
	helper.Process.Kill()
	helper.Wait()
	testpeer.Eventually(t, 5*time.Second, "ffmpeg to die with its parent", func() bool { return !alive(pid) })
	t.Logf("ffmpeg %d gone %v after its parent's SIGKILL", pid, time.Since(killed).Round(time.Millisecond))
}
