//go:build libav

package ffmpegpath

import "testing"

func TestLibavSignedTargetFreshOnEveryRun(t *testing.T) { signedRunsAfterExpiry(t, libavFor) }
func TestLibavExpiredSignatureRefusedAtL3(t *testing.T) { expiredSignatureRefused(t, libavFor) }
