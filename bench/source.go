package bench

import (
	"context"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// HDSource describes the generated 1080p30 source.
type HDSource = testpeer.HDSource

// Make1080p generates (once, cached in dir) the 1080p30 4 Mbit/s source
// (testpeer.Make1080p).
func Make1080p(ctx context.Context, dir string) (HDSource, error) {
	return testpeer.Make1080p(ctx, dir)
}
