package interop_test

import (
	"flag"
	"os"
	"testing"
)

// interopParallel is how many tests of this package may run at once when
// the command line does not say (-parallel). Its tests wait on real time
// (60 s scenarios on four servers, two paths each), not on the CPU: the
// default, GOMAXPROCS, would run two at a time and serialise what is meant
// to overlap.
const interopParallel = "64"

// TestMain raises -parallel to interopParallel unless it was given.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		flag.Set("test.parallel", interopParallel)
	}
	os.Exit(m.Run())
}
