package sample

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

// The embedded bytes are the repository's sample and parse into its facts.
func TestClip(t *testing.T) {
	b, err := os.ReadFile(testpeer.SamplePath(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, Bytes()) {
		t.Fatal("embedded sample differs from media/sample/sample.flv")
	}
	c, err := Clip()
	if err != nil {
		t.Fatal(err)
	}
	v, a := c.Video, c.Audio
	if v.Codec != media.CodecH264 || v.Width != 640 || v.Height != 360 || a.SampleRate != 44100 || a.Channels != 2 {
		t.Fatalf("unexpected params %+v %+v", v, a)
	}
}

// The looper starts at 0 and keeps going past the end of the clip.
func TestNewLooperUnpaced(t *testing.T) {
	l, err := NewLooper(nil)
	if err != nil {
		t.Fatal(err)
	}
	var last media.Unit
	for last.DTS < 12*time.Second {
		if last, err = l.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if l.Loops() != 1 {
		t.Fatalf("loops = %d", l.Loops())
	}
}
