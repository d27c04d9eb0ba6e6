//go:build !libav

package ffmpegpath

import "errors"

// ErrNoLibav is returned when the libav driver is selected in a build
// without the libav tag.
var ErrNoLibav = errors.New("ffmpegpath: driver \"libav\" selected but fmspush was built without libav (rebuild with -tags libav)")

// LibavAvailable reports whether this build has the libav driver.
const LibavAvailable = false

func newLibav(Settings) (Driver, error) { return nil, ErrNoLibav }
